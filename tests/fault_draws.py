"""The fault harness's draws and its reading of a kill, apart from the lab (issue 12, decision 0014; issue 32): the
seed (the day's date, or ``LAB_FAULT_SEED`` replaying one), the steps a playbook's kill rows go inside, the moment of
a kill inside its step, and whether the kill landed inside the step drawn. Pure: tests/integration/faults.py and its
conftest use them on the lab, tests/unit/test_fault_draws.py without it."""

from __future__ import annotations

import random
import signal
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date

SEED_ENV = "LAB_FAULT_SEED"
KILLED = -signal.SIGKILL  # a child's return code (subprocess) when it died of SIGKILL
ENDED = frozenset({"done", "rejected", "failed", "waiting"})  # a run no process drives any more


def fault_seed(environ: Mapping[str, str], today: date) -> int:
    """``LAB_FAULT_SEED`` when set (a day's draw replayed, as the table printed it), else the day's: YYYYMMDD."""
    value = environ.get(SEED_ENV, "").strip()
    if not value:
        return int(today.strftime("%Y%m%d"))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{SEED_ENV}={value!r}: a whole number, as the fault table prints it") from None


def pin_seed(environ: MutableMapping[str, str], today: date) -> int:
    """The run's seed, set in ``environ`` unless already there: the processes started after (pytest-xdist's workers)
    draw with it, whatever the date when they collect, and the table prints the seed they drew with."""
    seed = fault_seed(environ, today)
    environ[SEED_ENV] = str(seed)
    return seed


def seed_line(seed: int, full: bool) -> str:
    """The table's line on its draw."""
    drawn = "every step of every playbook (LAB_FAULTS=full)" if full else "a subset of the steps"
    return f"seed {seed}: {drawn}; {SEED_ENV}={seed} replays this draw"


def draw_steps(steps: Sequence[str], playbook: str, k: int, seed: int, full: bool = False,
               before: str | None = None) -> list[str]:  # fmt: skip
    """The steps to kill inside, in the playbook's order: all of them (``full``), else ``k`` drawn by ``seed``, never
    the first (a validation that changes nothing) nor the last (often a notice of milliseconds: the run ends before
    the kill). ``before``: only the steps before that one (a maintenance run waits there for its window)."""
    steps = list(steps)
    steps = steps[: steps.index(before)] if before else steps
    inner = steps[1:-1] or steps[:-1] or steps  # a two-step playbook: its first, which makes the change
    return steps if full else sorted(random.Random(f"{seed}:{playbook}").sample(inner, k), key=steps.index)


def kill_moment(seed: int, playbook: str, step: str, window: float) -> float:
    """How many seconds after ``step`` was seen running the kill falls: drawn in [0, ``window``], the same for the
    same seed (a row is replayed with its seed)."""
    return random.Random(f"{seed}:{playbook}:{step}").uniform(0, window)


@dataclass(frozen=True)
class Landing:
    """Where a kill landed: ``where`` the agent died ("inside <step>", "after <step>", …); ``missed`` why that is
    not inside the step drawn (None: it is)."""

    step: str
    where: str
    missed: str | None = None

    @property
    def inside(self) -> bool:
        return self.missed is None


def landing(step: str, run_status: str, steps: Sequence[tuple[str, str]], exit_code: int | None) -> Landing:
    """Where the kill meant for ``step`` landed, read after it from the run store (the run's status, and the key and
    status of each of its main steps in order) and from the agent's exit code: inside the step only when the agent
    died of the kill while the step was still running."""
    running = [key for key, status in steps if status == "running"]
    done = [key for key, status in steps if status == "done"]
    where = f"inside {running[0]}" if running else f"after {done[-1] if done else '-'}"
    status = dict(steps).get(step)
    if exit_code != KILLED:
        return Landing(
            step, "nowhere", f"the agent had exited (code {exit_code}) before the kill, its run {run_status}"
        )
    if run_status in ENDED:
        return Landing(step, f"after the run ({run_status})", f"the run was {run_status} before the kill")
    if status == "running":
        return Landing(step, where)
    if status == "done":
        return Landing(step, where, f"{step} had finished before the kill")
    if status in (None, "pending"):
        return Landing(step, where, f"{step} had not started")
    return Landing(step, where, f"{step} was {status}, not running")


class KillMissed(AssertionError):
    """A kill row's SIGKILL did not land inside its step: the row fails rather than pass as "killed inside"."""

    def __init__(self, landed: Landing, seed: int, moment: float, window: float) -> None:
        super().__init__(
            f"SIGKILL missed {landed.step}: {landed.missed}; the agent died {landed.where}. The kill was drawn "
            f"{moment:.2f} s into the step (of a {window:g} s window; seed {seed}, {SEED_ENV}={seed} replays it): a "
            f"step shorter than its window on this lab needs a smaller one (tests/integration/faults.py WINDOW)"
        )
        self.landed = landed
