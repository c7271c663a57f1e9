"""Pure parts of the backup SOP: request fields, cron handling, restic/rsync output parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.jobs.scheduler import cron_interval, cron_trigger
from agent.steps.backup import health_triggers, parse_paths, parse_retention
from integrations.backup import Retention
from integrations.transfer import _parse_sha256z, _stats, check_remote_path


def test_retention_parses_and_becomes_restic_arguments() -> None:
    r = parse_retention("daily=7, weekly=4\nmonthly=6")
    assert r == Retention(daily=7, weekly=4, monthly=6)
    assert r.args() == ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6"]
    assert str(r) == "daily=7 weekly=4 monthly=6"
    w = parse_retention("last=2 within=1y6m")
    assert w.args() == ["--keep-last", "2", "--keep-within", "1y6m"] and str(w) == "last=2 within=1y6m"
    assert parse_retention("within=30d").args() == ["--keep-within", "30d"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "forever",
        "daily=0",
        "hourly=3",
        "daily=-1",
        "daily=7 weekly",
        "within=",
        "within=30",
        "within=2d1y",
        "within=30d; rm -rf /",
    ],
)
def test_bad_retention_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_retention(text)


def test_paths_are_absolute_normalised_and_deduplicated() -> None:
    assert parse_paths("/srv/app/\n\n/var/www\n/srv/app") == ("/srv/app", "/var/www")


@pytest.mark.parametrize("path", ["relative/x", "/srv/../etc", "/srv/a\nb", "/", "-e", "/srv/\x1b[31m"])
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        check_remote_path(path)


def test_crontab_weekdays_count_from_sunday() -> None:
    sunday = cron_trigger("0 1 * * 0", "Asia/Jakarta").get_next_fire_time(None, datetime(2026, 11, 23, tzinfo=UTC))
    assert sunday is not None and sunday.strftime("%a %H:%M") == "Sun 01:00"
    seven = cron_trigger("0 1 * * 7", "Asia/Jakarta").get_next_fire_time(None, datetime(2026, 11, 23, tzinfo=UTC))
    assert seven == sunday
    weekdays = cron_trigger("30 2 * * 1-5", "UTC").get_next_fire_time(None, datetime(2026, 11, 28, tzinfo=UTC))
    assert weekdays is not None and weekdays.strftime("%a") == "Mon"  # the 28th is a Saturday


@pytest.mark.parametrize("expr", ["every night", "* * * *", "61 * * * *", "0 25 * * *"])
def test_bad_cron_is_refused(expr: str) -> None:
    with pytest.raises(ValueError):
        cron_trigger(expr, "UTC")


def test_interval_and_stale_trigger_use_twice_the_interval() -> None:
    now = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)
    assert cron_interval("0 1 * * *", "Asia/Jakarta", now) == 86400
    assert cron_interval("*/15 * * * *", "UTC", now) == 900
    stale = health_triggers(1800)[1]
    assert stale.expression == "nodata(/{HOST}/dcagent.backup.last_success,1800s)=1"


def test_sha256sum_zero_terminated_output_is_parsed_with_odd_names() -> None:
    out = "ab12  ./a b.txt\0cd34  ./dir/new\nline\0"
    assert _parse_sha256z(out) == {"a b.txt": "ab12", "dir/new\nline": "cd34"}


def test_rsync_stats_are_read() -> None:
    lines = ["Number of files: 45 (reg: 43, dir: 2)", "Number of regular files transferred: 3",
             "Total file size: 3,541,480 bytes", "Total transferred file size: 12,288 bytes"]  # fmt: skip
    s = _stats(lines, 1.25)
    assert (s.files, s.total_bytes, s.bytes_transferred, s.seconds) == (3, 3541480, 12288, 1.25)
