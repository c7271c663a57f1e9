"""Pure parts of the backup SOP: request fields, cron handling, restic/rsync output parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.engine.schedules import cron_interval, cron_trigger, schedule_problem
from agent.steps.backup import Space, parse_paths, parse_retention, space_shortfalls
from agent.steps.backup_health import health_triggers
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


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("* * * * *", "runs 60 s apart; the shortest allowed is 3600 s"),
        ("0,1 * * * *", "runs 60 s apart"),  # hourly, but two runs a minute apart once an hour
        ("0 0 30 2 *", "never runs twice"),  # 30 February: would have crashed the step
        ("0 25 * * *", "bad"),
    ],
)
def test_schedules_that_run_too_often_or_never_are_refused_with_the_reason(expr: str, why: str) -> None:
    now = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)
    problem = schedule_problem(expr, "Asia/Jakarta", now, 3600)
    assert problem is not None and (why in problem or why == "bad"), problem
    with pytest.raises(ValueError, match="never runs twice"):
        cron_interval("0 0 30 2 *", "UTC", now)


def test_daily_and_hourly_schedules_pass() -> None:
    now = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)
    assert schedule_problem("0 1 * * *", "Asia/Jakarta", now, 3600) is None
    assert schedule_problem("15 * * * *", "UTC", now, 3600) is None
    assert schedule_problem("* * * * *", "UTC", now, 60) is None  # the lab allows one a minute


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


GiB = 1024**3


def test_space_is_checked_for_the_repository_and_the_staging_mirror() -> None:
    repo, stage = Space(free=10 * GiB, device=1), Space(free=10 * GiB, device=2)
    assert space_shortfalls(4 * GiB, 1.5, repo, stage, mirror=0, lang="en") == []
    short = space_shortfalls(8 * GiB, 1.5, repo, stage, mirror=0, lang="en")
    assert len(short) == 2 and short[0].startswith("backup repository too small: 8.0 GiB × margin 1.5 = 12.0 GiB")
    assert short[1].startswith("rsync staging too small: 12.0 GiB more needed")
    # an incremental run: the mirror already holds most of the data, so staging needs only the rest
    assert space_shortfalls(6 * GiB, 1.5, repo, Space(free=1 * GiB, device=2), mirror=8 * GiB, lang="en") == []
    # a remote repository is not measured; the staging still is
    assert space_shortfalls(8 * GiB, 1.5, None, stage, mirror=0, lang="en")[0].startswith("rsync staging")


def test_repository_and_staging_on_one_filesystem_need_the_sum() -> None:
    shared = Space(free=10 * GiB, device=7)
    assert space_shortfalls(3 * GiB, 1.5, shared, shared, mirror=0) == []  # 4.5 + 4.5 = 9 GiB
    (reason,) = space_shortfalls(4 * GiB, 1.5, shared, shared, mirror=0, lang="en")
    assert "shares a filesystem" in reason and "12.0 GiB needed, 10.0 GiB free" in reason
    assert space_shortfalls(4 * GiB, 1.5, shared, shared, mirror=0)[0].startswith("ruang repositori backup kurang")
