"""The SIGKILL fault harness's tools (issue 12), shared by the lab tests of each playbook: which steps to kill
inside (a subset drawn by a seed that changes daily — every xdist worker draws the same; ``LAB_FAULT_SEED``
replays a day's draw, and the table prints the seed — or every step with ``LAB_FAULTS=full``), the kill itself (at a
drawn moment inside the step, or at its end when the step is shorter; a row whose kill still missed fails), and the
table's row. The draws and the reading of a kill are
tests/fault_draws.py (unit-tested without the lab)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, SecretStr

import agent.runtime.app  # noqa: F401  (registers every step: their retry policies tell when an outage wait began)
from agent.config.settings import load_settings
from agent.engine.registry import REGISTRY, ObjectRef
from agent.engine.store import RunView, Store
from agent.runtime.chaos import KILL_AFTER
from tests.fault_draws import KillMissed, draw_steps, fault_seed, kill_moment, landing
from tests.integration.helpers import record_fault, wait_for

REPO_PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
SEED = fault_seed(os.environ, date.today())  # the conftest pins it for the whole run (every worker draws the same)
FULL = os.environ.get("LAB_FAULTS") == "full"
# How far into a step the kill may fall: most steps take 0.2-1 s on the lab; verification waits for Zabbix's answer.
WINDOW = {"verify_monitoring": 2.5, "pull_files": 1.0, "snapshot": 1.5, "verify_repository": 1.5}


def main_steps(playbook: str) -> list[str]:
    book = yaml.safe_load((REPO_PLAYBOOKS / f"{playbook}.yaml").read_text(encoding="utf-8"))
    return [str(s.get("id") or s["step"]) for s in book["steps"]]


def draw(playbook: str, k: int, before: str | None = None) -> list[str]:
    """The steps to kill inside: all of them (full), else ``k`` drawn by the day's seed, never the first (a
    validation that changes nothing) nor the last (often a notice of milliseconds: the run ends before the kill).
    ``before``: only the steps before that one (a maintenance run waits there for its window)."""
    return draw_steps(main_steps(playbook), playbook, k, SEED, FULL, before)


def run_reader(store_url: str, ref: ObjectRef, playbook: str | None = None) -> Callable[[], RunView | None]:
    """A reader of the object's latest run (of ``playbook``), as the run store has it now."""
    store = Store(store_url)

    def latest() -> RunView | None:
        runs = store.list_runs(playbook=playbook, ref=ref)
        return store.get_run(runs[0].id) if runs else None

    return latest


def kill_inside(argv: list[str], agent_env: dict[str, str], run_of: Callable[[], RunView | None], step: str) -> str:
    """Start the agent; once ``step`` is running, SIGKILL it at a random point of the step's usual span. A step that
    ends before that point is killed at its end instead: the agent runs with the engine's own hook
    (``DCAGENT_CHAOS_KILL_AFTER``), which kills it right after the step's function returned and before its result
    is recorded, the worst moment. Returns where it died, "inside <step>" (", at its end" when the hook killed it):
    the agent died of SIGKILL and the run store shows the step still running. A kill that still missed the step
    (the agent had exited, the run had ended) fails the row (:class:`KillMissed`, with the seed that replays it)."""
    window = WINDOW.get(step, 0.4)
    moment = kill_moment(SEED, argv[-2], step, window)  # argv[-2]: the playbook's name
    with arguments_watched():
        output, exit_code, at_end = _kill_at(argv, {**agent_env, KILL_AFTER: step}, run_of, step, moment)
    view = run_of()
    assert view is not None and view.status != "failed", output
    landed = landing(step, view.status, [(s.key, s.status) for s in view.steps if s.phase == "main"], exit_code)
    if not landed.inside:
        raise KillMissed(landed, SEED, moment, window)
    return landed.where + (", at its end" if at_end else "")


def _kill_at(argv: list[str], agent_env: dict[str, str], run_of: Callable[[], RunView | None], step: str,
             moment: float) -> tuple[str, int, bool]:  # fmt: skip
    """The agent's output, its exit code, and whether it had died before the kill (its own hook, at the step's
    end): SIGKILLed ``moment`` seconds after ``step`` was seen running."""
    proc = subprocess.Popen(argv, env=agent_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def reached() -> str | None:
        if proc.poll() is not None:
            return "exited"
        view = run_of()
        st = view.step("main", step) if view else None
        return st.status if st is not None and st.status != "pending" else None

    at_end = False
    try:
        state = wait_for(f"step {step} to start", reached, timeout=240, every=0.01)
        assert state != "exited" or proc.returncode == -signal.SIGKILL, proc.communicate()[0]
        time.sleep(moment)  # replayable: drawn by the seed
    finally:
        at_end = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)  # the agent only: its children die with it (PR_SET_PDEATHSIG)
        output, _ = proc.communicate(timeout=30)
    return output, proc.returncode, at_end


def restart(argv: list[str], agent_env: dict[str, str], run_of: Callable[[], RunView | None], where: str,
            until: str = "done") -> None:  # fmt: skip
    """The agent started again on the same request (unless the kill came after the run's end): the run is done (or
    ``until``: "waiting" for a window, the CLI's exit code 5)."""
    if not where.startswith("missed"):
        with arguments_watched():
            again = subprocess.run(argv, env=agent_env, capture_output=True, text=True, timeout=400, check=False)
        assert again.returncode == {"done": 0, "waiting": 5}[until], again.stdout + again.stderr
    view = run_of()
    assert view is not None and view.status == until, view


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


def _secrets_in(model: BaseModel) -> Iterator[str]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield value.get_secret_value()
        elif isinstance(value, BaseModel):
            yield from _secrets_in(value)


def configured_secrets() -> set[str]:
    found = set(_secrets_in(load_settings(None)))
    officials = Path(os.environ["DCAGENT_NETBOX__TOKEN_FILE"]).parent / "netbox-officials.json"
    if officials.exists():
        found |= set(json.loads(officials.read_text()).values())
    # A v2 token's key (nbt_<key>.) names the token in NetBox's own UI; its part after the dot is the secret.
    parts = {s.split(".", 1)[1] for s in found if s.startswith("nbt_") and "." in s}
    return {s for s in found | parts if len(s) >= 8}


def sample_arguments(stop: threading.Event, seen: set[str], every: float = 0.05) -> None:
    """Every process's arguments, sampled until ``stop``."""
    while not stop.is_set():
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                seen.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
        stop.wait(every)


@contextmanager
def arguments_watched(every: float = 0.1) -> Iterator[None]:
    """While the block runs (an agent killed, an outage ridden out), no configured secret appears in any process's
    arguments: rsync, ssh, restic and git started on a retry or a resume are sampled too."""
    seen: set[str] = set()
    stop = threading.Event()
    sampler = threading.Thread(target=sample_arguments, args=(stop, seen, every), daemon=True)
    sampler.start()
    try:
        yield
    finally:
        stop.set()
        sampler.join(5)
    hits = [secret[:4] + "…" for secret in configured_secrets() for args in seen if secret in args]
    assert len(seen) > 10 and hits == [], hits
