"""A run's timeline for people and scripts (issue 17): piped or in a narrow terminal it is one line per step within
80 columns with every step name whole (the table printed "vali…", "chec…"); `--json` gives scripts the same data.
A SQLite run store and the CLI in-process, no lab."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.engine.calendar import OfficeCalendar
from agent.engine.registry import ObjectRef
from agent.engine.store import NewStep, Store
from agent.engine.timeline import run_data
from agent.logs import setup_logging

STEPS = ["validate_request", "check_capacity", "reserve_ip", "place_device", "register_zabbix",
         "cable_switch_port", "configure_switch_port", "ensure_backup_monitoring"]  # fmt: skip
FAILURE = "configure_switch_port: TransientError: switch tor-btm-01 127.0.1.1:2201: connection refused " * 2


@pytest.fixture
def store_env(cli_store: Store) -> tuple[Store, str]:
    store = cli_store
    t0 = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    plan = [NewStep(k, k, 3600.0) for k in STEPS]
    run_id, _ = store.create_run("colocation", ObjectRef("dcim.device", 42), "srv-disdik-01", "webhook", plan, t0,
                                 approver="kabid")  # fmt: skip
    view = store.get_run(run_id)
    assert view is not None
    for i, st in enumerate(view.steps):
        start = t0 + timedelta(seconds=10 * i)
        store.start_step(st.id, start)
        failed = st.key == "configure_switch_port"
        if failed:
            store.start_step(st.id, start + timedelta(seconds=2))
        store.finish_step(st.id, "failed" if failed else "done", start + timedelta(seconds=4.2),
                          output={"n": i}, error=FAILURE if failed else None)  # fmt: skip
    store.set_run_status(run_id, "failed", t0 + timedelta(minutes=5), reason=FAILURE)
    return store, run_id


def test_a_piped_timeline_is_one_line_per_step_within_80_columns(store_env: tuple[Store, str]) -> None:
    _store, run_id = store_env
    result = CliRunner().invoke(app, ["--lang", "en", "runs", "show", run_id[:8]])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    step_lines = [line for line in lines if line[:2].strip().isdigit()]
    assert [line.split()[2] for line in step_lines] == STEPS  # every name whole, in order
    assert all(len(line) <= 80 for line in step_lines), step_lines
    assert "…" not in result.output
    failed = next(line for line in step_lines if "configure_switch_port" in line)
    assert "failed" in failed and "×2" in failed and "4.2s" in failed
    assert f"   ! {FAILURE}" in lines  # the error whole, on its own line


def test_json_for_scripts(store_env: tuple[Store, str]) -> None:
    _store, run_id = store_env
    shown = CliRunner().invoke(app, ["runs", "show", run_id, "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["id"] == run_id and data["status"] == "failed" and data["object"]["name"] == "srv-disdik-01"
    assert [s["key"] for s in data["steps"]] == STEPS and data["steps"][6]["attempts"] == 2
    assert data["steps"][0]["seconds"] == 4.2 and data["steps"][0]["output"] == {"n": 0}
    listed = CliRunner().invoke(app, ["runs", "--json", "--status", "failed"])
    assert listed.exit_code == 0, listed.output
    assert [r["id"] for r in json.loads(listed.output)] == [run_id]


def test_library_warnings_stay_off_the_operators_screen() -> None:
    setup_logging("WARNING")
    assert not logging.getLogger("weasyprint").isEnabledFor(logging.WARNING)
    assert not logging.getLogger("fontTools.subset").isEnabledFor(logging.WARNING)
    assert logging.getLogger("dcagent.engine").isEnabledFor(logging.WARNING)
    setup_logging("DEBUG")
    assert logging.getLogger("weasyprint").isEnabledFor(logging.WARNING)
    setup_logging("WARNING")


def test_the_timeline_is_in_the_offices_time_zone_and_says_so(store_env: tuple[Store, str]) -> None:
    """Issue 30 #9: the documents say WIB; the timeline said UTC without saying so. 02:00 UTC is 09:00 WIB."""
    _store, run_id = store_env
    result = CliRunner().invoke(app, ["--lang", "en", "runs", "show", run_id[:8]])
    assert result.exit_code == 0, result.output
    first = next(line for line in result.output.splitlines() if "validate_request" in line)
    assert " 09:00:00 " in first and "02:00:00" not in result.output, result.output
    assert "WIB (Asia/Jakarta)" in result.output


def test_a_step_that_waited_for_its_window_is_measured_from_the_windows_start(cli_store: Store) -> None:
    """Issue 31 #5: a maintenance window two days away made begin_maintenance "terlampaui" (1 day) by construction;
    the standard counts from when the wait ended, the first attempt only for a step that never waited."""
    t0 = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    window = t0 + timedelta(days=2)
    run_id, _ = cli_store.create_run("maintenance", ObjectRef("dcim.device", 42), "srv-disdik-01", "webhook",
                                     [NewStep("begin", "begin_maintenance", 86400.0),
                                      NewStep("other", "begin_maintenance", 86400.0)], t0)  # fmt: skip
    view = cli_store.get_run(run_id)
    assert view is not None
    waited, late = view.steps
    cli_store.start_step(waited.id, t0)
    cli_store.park_step(waited.id, window)  # the step returned wait_until(window)
    cli_store.start_step(waited.id, window)  # woken at the window's start
    cli_store.finish_step(waited.id, "done", window + timedelta(minutes=5))
    cli_store.start_step(late.id, t0)  # the same span with no wait: late indeed
    cli_store.finish_step(late.id, "done", window + timedelta(minutes=5))
    final = cli_store.get_run(run_id)
    assert final is not None
    data = run_data(final, OfficeCalendar(), {})
    assert [s["within_standard"] for s in data["steps"]] == [True, False]


def test_a_step_that_waited_for_people_is_measured_from_its_first_attempt(cli_store: Store) -> None:
    """Issue 31 #5, the other half: a server delivered three days after the run began waiting for it is late against
    a standard of one day, however often the step looked in between (each look sets its next wake-up time)."""
    t0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    run_id, _ = cli_store.create_run("colocation", ObjectRef("dcim.device", 42), "srv-disdik-01", "webhook",
                                     [NewStep("await_delivery", "await_delivery", 86400.0)], t0)  # fmt: skip
    view = cli_store.get_run(run_id)
    assert view is not None
    [delivery] = view.steps
    cli_store.start_step(delivery.id, t0)
    for look in range(1, 4):  # a look a day; the last finds the server
        cli_store.park_step(delivery.id, t0 + timedelta(days=look), for_people=True)
        cli_store.start_step(delivery.id, t0 + timedelta(days=look))
    cli_store.finish_step(delivery.id, "done", t0 + timedelta(days=3, minutes=1))
    final = cli_store.get_run(run_id)
    assert final is not None
    assert final.steps[0].measured_from == t0
    assert [s["within_standard"] for s in run_data(final, OfficeCalendar(), {})["steps"]] == [False]
