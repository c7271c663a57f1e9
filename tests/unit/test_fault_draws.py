"""The fault harness's draws and its reading of a kill, without the lab (issue 32): a kill row whose SIGKILL missed
its step fails instead of passing as "killed inside", and the table prints the seed that replays the draw."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fault_draws import (
    KILLED,
    SEED_ENV,
    KillMissed,
    Landing,
    draw_steps,
    fault_seed,
    kill_moment,
    landing,
    pin_seed,
    seed_line,
)

COLOCATION = ["validate", "check_capacity", "place_device", "assign_ip", "publish_dns", "notify"]
DAY = date(2026, 1, 5)


def test_the_seed_is_the_days_date_unless_lab_fault_seed_replays_one() -> None:
    assert fault_seed({}, DAY) == 20260105
    assert fault_seed({SEED_ENV: ""}, DAY) == fault_seed({SEED_ENV: "  "}, DAY) == 20260105
    assert fault_seed({SEED_ENV: "20251231"}, DAY) == fault_seed({SEED_ENV: " 20251231\n"}, DAY) == 20251231
    with pytest.raises(ValueError, match="LAB_FAULT_SEED='monday': a whole number"):
        fault_seed({SEED_ENV: "monday"}, DAY)


def test_the_seed_pinned_at_the_start_is_the_one_every_later_process_draws_with() -> None:
    environ: dict[str, str] = {}
    assert pin_seed(environ, DAY) == 20260105 and environ == {SEED_ENV: "20260105"}
    # A worker that collects after midnight, and the table printed then, still use the run's seed.
    assert pin_seed(environ, date(2026, 1, 6)) == fault_seed(environ, date(2026, 1, 6)) == 20260105
    replayed = {SEED_ENV: "20251231"}
    assert pin_seed(replayed, DAY) == 20251231 and replayed == {SEED_ENV: "20251231"}


def test_the_table_names_its_seed_and_how_to_replay_it() -> None:
    assert seed_line(20260105, full=False) == (
        "seed 20260105: a subset of the steps; LAB_FAULT_SEED=20260105 replays this draw"
    )
    assert "every step" in seed_line(7, full=True) and "LAB_FAULT_SEED=7" in seed_line(7, full=True)


def test_a_printed_seed_replays_the_same_draw() -> None:
    """Pinned values: a seed from an earlier table must draw what it drew then (this draw is the harness's from
    before issue 32)."""
    assert draw_steps(COLOCATION, "colocation", 2, 20260105) == ["check_capacity", "publish_dns"]
    assert draw_steps(COLOCATION, "colocation", 2, 20260106) == ["check_capacity", "assign_ip"]
    assert kill_moment(20260105, "colocation", "assign_ip", 0.4) == pytest.approx(0.0768770154671)
    assert kill_moment(20260105, "colocation", "assign_ip", 0.4) == random.Random(
        "20260105:colocation:assign_ip"
    ).uniform(0, 0.4)


@given(st.integers(0, 99_999_999), st.integers(3, 12), st.data())
def test_a_draw_is_distinct_steps_in_playbook_order_never_the_first_nor_the_last(
    seed: int, n: int, data: st.DataObject
) -> None:
    steps = [f"s{i}" for i in range(n)]
    k = data.draw(st.integers(1, n - 2))
    drawn = draw_steps(steps, "pb", k, seed)
    assert len(drawn) == len(set(drawn)) == k
    assert drawn == sorted(drawn, key=steps.index)
    assert steps[0] not in drawn and steps[-1] not in drawn
    assert draw_steps(steps, "pb", k, seed) == drawn  # every xdist worker draws the same


def test_full_draws_every_step_before_cuts_and_a_two_step_playbook_draws_its_first() -> None:
    assert draw_steps(COLOCATION, "colocation", 2, 1, full=True) == COLOCATION
    assert draw_steps(COLOCATION, "colocation", 1, 1, full=True, before="assign_ip") == COLOCATION[:3]
    assert draw_steps(COLOCATION, "colocation", 1, 1, before="assign_ip") == ["check_capacity"]
    assert draw_steps(["validate", "apply"], "two", 1, 1) == ["validate"]


@given(st.integers(0, 99_999_999), st.floats(0.01, 10))
def test_a_kill_moment_falls_in_its_window_and_the_seed_replays_it(seed: int, window: float) -> None:
    moment = kill_moment(seed, "colocation", "assign_ip", window)
    assert 0 <= moment <= window
    assert kill_moment(seed, "colocation", "assign_ip", window) == moment


MAIN = [("validate", "done"), ("check_capacity", "done"), ("assign_ip", "running"), ("publish_dns", "pending")]


def test_a_kill_while_its_step_runs_lands_inside_it() -> None:
    landed = landing("assign_ip", "running", MAIN, KILLED)
    assert landed == Landing("assign_ip", "inside assign_ip") and landed.inside


def test_a_kill_after_its_step_finished_misses_and_names_where_the_agent_died() -> None:
    later = landing("check_capacity", "running", MAIN, KILLED)
    assert not later.inside and later.where == "inside assign_ip"
    assert later.missed == "check_capacity had finished before the kill"
    between = [("validate", "done"), ("check_capacity", "done"), ("assign_ip", "pending")]
    gap = landing("check_capacity", "running", between, KILLED)  # between two steps: the next not yet begun
    assert not gap.inside and gap.where == "after check_capacity"


@pytest.mark.parametrize("status", ["done", "waiting", "rejected"])
def test_a_kill_after_the_run_ended_misses_even_with_the_step_recorded_running(status: str) -> None:
    landed = landing("assign_ip", status, MAIN, KILLED)
    assert not landed.inside and landed.missed == f"the run was {status} before the kill"


@pytest.mark.parametrize("exit_code", [0, 1, 5, -15])
def test_a_kill_never_delivered_misses_whatever_the_store_shows(exit_code: int) -> None:
    """The agent had exited (done, failed, waiting for a window, stopped) before the signal: nothing was killed."""
    landed = landing("assign_ip", "running", MAIN, exit_code)
    assert not landed.inside and landed.where == "nowhere"
    assert landed.missed == f"the agent had exited (code {exit_code}) before the kill, its run running"


def test_a_kill_before_its_step_or_in_a_step_not_running_misses() -> None:
    assert landing("publish_dns", "running", MAIN, KILLED).missed == "publish_dns had not started"
    assert landing("absent", "running", MAIN, KILLED).missed == "absent had not started"
    waiting = [("validate", "done"), ("assign_ip", "waiting")]
    assert landing("assign_ip", "running", waiting, KILLED).missed == "assign_ip was waiting, not running"


def test_a_missed_kill_fails_the_row_with_the_moment_and_the_seed_that_replays_it() -> None:
    missed = landing("check_capacity", "running", MAIN, KILLED)
    error = KillMissed(missed, 20260105, 0.314, 0.4)
    assert isinstance(error, AssertionError) and error.landed is missed  # pytest reports it as the row's failure
    text = str(error)
    assert text.startswith("SIGKILL missed check_capacity: check_capacity had finished before the kill; ")
    assert "the agent died inside assign_ip" in text and "0.31 s into the step" in text and "0.4 s window" in text
    assert "LAB_FAULT_SEED=20260105" in text
