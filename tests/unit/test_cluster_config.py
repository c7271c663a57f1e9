"""Cluster mode's settings seam: the run store's URL for the job queue and the periodic tasks' crons."""

from __future__ import annotations

import pytest
from croniter import croniter

from agent.runtime.cluster import cron_every, libpq_url


@pytest.mark.parametrize(
    ("seconds", "cron"),
    [(2, "* * * * * */2"), (7, "* * * * * */6"), (60, "*/1 * * * *"), (900, "*/15 * * * *"),
     (600, "*/10 * * * *"), (6 * 3600, "0 */6 * * *"), (24 * 3600, "0 0 * * *"), (0.2, "* * * * * */1")],
)  # fmt: skip
def test_an_interval_becomes_a_cron_that_divides_its_unit(seconds: float, cron: str) -> None:
    assert cron_every(seconds) == cron
    assert croniter.is_valid(cron)


def test_the_queue_uses_the_run_stores_postgresql_and_refuses_sqlite() -> None:
    url = "postgresql+psycopg://dcagent:s3cret@db.example.go.id:5432/dcagent?options=-csearch_path%3Dx"
    assert libpq_url(url) == "postgresql://dcagent:s3cret@db.example.go.id:5432/dcagent?options=-csearch_path%3Dx"
    with pytest.raises(ValueError, match="PostgreSQL"):
        libpq_url("sqlite:////var/lib/dcagent/runs.sqlite3")
