"""The SIGKILL fault harness's tools (issue 12), shared by the lab tests of each playbook: which steps to kill
inside (a subset drawn by a seed that changes daily — every xdist worker draws the same; ``LAB_FAULT_SEED``
replays a day's draw — or every step with ``LAB_FAULTS=full``), the kill itself, and the table's row."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import yaml

import agent.app  # noqa: F401  (registers every step: their retry policies tell when an outage wait began)
from agent.engine.registry import REGISTRY
from agent.engine.store import RunView
from tests.integration.helpers import record_fault, wait_for

REPO_PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
SEED = int(os.environ.get("LAB_FAULT_SEED") or date.today().strftime("%Y%m%d"))
FULL = os.environ.get("LAB_FAULTS") == "full"
# How far into a step the kill may fall: most steps take 0.2-1 s on the lab; verification waits for Zabbix's answer.
WINDOW = {"verify_monitoring": 4.0, "pull_files": 1.0, "snapshot": 1.5, "verify_repository": 1.5}


def main_steps(playbook: str) -> list[str]:
    book = yaml.safe_load((REPO_PLAYBOOKS / f"{playbook}.yaml").read_text(encoding="utf-8"))
    return [str(s.get("id") or s["step"]) for s in book["steps"]]


def draw(playbook: str, k: int) -> list[str]:
    """The steps to kill inside: all of them (full), else ``k`` drawn by the day's seed, never the first (a
    validation that changes nothing) nor the last (often a notice of milliseconds: the run ends before the kill)."""
    steps = main_steps(playbook)
    return steps if FULL else sorted(random.Random(f"{SEED}:{playbook}").sample(steps[1:-1], k), key=steps.index)


def kill_inside(argv: list[str], agent_env: dict[str, str], run_of: Callable[[], RunView | None], step: str) -> str:
    """Start the agent; once ``step`` is running, SIGKILL it at a random point of the step's usual span. Returns
    where it died: "inside <step>" (the run store shows the step still running) or "after <step>"."""
    proc = subprocess.Popen(argv, env=agent_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def reached() -> str | None:
        if proc.poll() is not None:
            return "exited"
        view = run_of()
        st = view.step("main", step) if view else None
        return st.status if st is not None and st.status != "pending" else None

    try:
        state = wait_for(f"step {step} to start", reached, timeout=240, every=0.01)
        assert state != "exited", proc.communicate()[0]
        time.sleep(random.Random(f"{SEED}:{argv[-2]}:{step}").uniform(0, WINDOW.get(step, 0.4)))  # replayable
    finally:
        proc.send_signal(signal.SIGKILL)  # the agent only: its children die with it (PR_SET_PDEATHSIG)
        output, _ = proc.communicate(timeout=30)
    view = run_of()
    assert view is not None and view.status != "failed", output
    if view.status in ("done", "rejected"):  # a step of a few milliseconds, the last: the run ended first
        return f"missed {step} (run ended first)"
    running = [s.key for s in view.steps if s.status == "running"]
    done = [s.key for s in view.steps if s.status == "done"]
    return f"inside {running[0]}" if running else f"after {done[-1] if done else '-'}"


def restart(argv: list[str], agent_env: dict[str, str], run_of: Callable[[], RunView | None], where: str) -> None:
    """The agent started again on the same request (unless the kill came after the run's end): the run is done."""
    if not where.startswith("missed"):
        again = subprocess.run(argv, env=agent_env, capture_output=True, text=True, timeout=400, check=False)
        assert again.returncode == 0, again.stdout + again.stderr
    view = run_of()
    assert view is not None and view.status == "done", view


def tally(playbook: str, fault: str, outcome: str, counts: dict[str, int], want: dict[str, int]) -> None:
    """One row of the table: objects there twice (duplicates), objects there that should not be (leftovers), and
    anything missing named in the outcome; then the counts must be exactly as wanted."""
    duplicates = sum(max(0, counts[k] - want[k]) for k in want if want[k] > 0)
    leftovers = sum(counts[k] for k in want if want[k] == 0)
    missing = [k for k in want if counts[k] < want[k]]
    record_fault(playbook, fault, outcome + (f"; missing {', '.join(missing)}" if missing else ""),
                 duplicates, leftovers)  # fmt: skip
    assert counts == want, (fault, counts)


def waiting_out(view: RunView | None) -> str | None:
    """The step that has spent its own attempts and is now waiting the outage out, if any."""
    for st in view.steps if view else ():
        if st.status == "running" and st.attempts > REGISTRY.get(st.step_name).retry.max_attempts:
            return st.key
    return None
