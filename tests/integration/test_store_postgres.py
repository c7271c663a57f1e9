"""The engine's tests again, with the run store and the resource locks on the lab's PostgreSQL."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
import sqlalchemy as sa

from agent.engine.document_numbers import DocumentNumbers
from agent.engine.locks import PostgresAdvisoryLocks, advisory_key
from agent.engine.store import Store
from tests.integration.helpers import POSTGRES_STORE
from tests.unit.engine.test_executor import (  # noqa: F401  (collected here with the PostgreSQL store)
    test_duplicate_event_joins_the_active_run,
    test_permanent_failure_undoes_completed_steps_in_reverse,
    test_plan_changes_nothing,
    test_rejection_undoes_then_runs_on_reject,
    test_resume_continues_from_the_first_unfinished_step,
    test_retries_are_bounded,
    test_success_runs_every_step_once,
    test_transient_errors_retry_with_backoff,
    test_two_runs_race_for_the_last_slot,
)
from tests.unit.engine.test_file_locks import (  # noqa: F401  (two agents on one run, across advisory locks)
    test_a_second_agent_never_drives_a_run_the_first_one_drives,
)

# The lab answers: part of `make test-fast`. Every test starts from empty tables in the one lab database, so they
# take turns on one worker (concurrently, one test's fixture dropped the tables another was using).
pytestmark = [pytest.mark.smoke, pytest.mark.xdist_group(POSTGRES_STORE)]


@pytest.fixture
def store() -> Store:
    url = os.environ.get("LAB_PG_URL")
    if not url:
        pytest.fail("LAB_PG_URL is not set: run lab/up and source lab/lab.env", pytrace=False)
    s = Store(url)
    with s.engine.begin() as conn:
        for table in ("attempts", "steps", "runs", "document_numbers", "schedules", "marks", "alembic_version"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    s.migrate()
    s.migrate()  # idempotent
    assert s.is_postgres
    return s


def test_advisory_lock_excludes_another_session(store: Store) -> None:
    locks = PostgresAdvisoryLocks(store.engine)
    # Once under CI's load (2026-12-05) a try-lock right after the hold found "prefix:99" still held: either a run of
    # another test (advisory locks are the database's) or the closed session's server process not yet gone (200
    # tries on an idle lab: 0). Both are ruled out now: a name no run uses, and the hold unlocks before it closes.
    name = f"test-lock:{uuid.uuid4()}"
    key = advisory_key(name)
    with locks.hold(name), store.engine.connect() as other:
        got = other.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        assert got is False
        assert "database session pid" in (locks.holder(name) or "")  # what a waiting CLI tells its user
    assert locks.holder(name) is None
    with store.engine.connect() as other:
        assert other.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar() is True
        other.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def test_twenty_runs_at_once_take_twenty_document_numbers(store: Store) -> None:
    numbers = DocumentNumbers(store.engine)
    taken: list[int] = []
    threads = [threading.Thread(target=lambda i=i: taken.append(numbers.take("Diskominfo", "BA", 2026, f"run-{i}")))
               for i in range(20)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(taken) == list(range(1, 21))  # never one number twice, none skipped


def test_a_connection_returns_to_the_pool_holding_no_lock(store: Store) -> None:
    """A session lock left on a connection (its release never ran) does not ride along to the next user."""
    key = advisory_key("leaked:1")
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key}).first() is not None
    other = sa.create_engine(os.environ["LAB_PG_URL"])
    try:
        with other.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar() is True
    finally:
        other.dispose()
