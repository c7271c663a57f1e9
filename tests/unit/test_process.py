"""Child processes with a deadline and cancellation that reach the whole process tree (issue 12): what a step
starts (rsync and its ssh, restic, git, ping) never outlives the step. Real /bin/sh children, no lab."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from integrations import cancel, process
from integrations.errors import PermanentError, TransientError


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for init to reap it counts as ended)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def grandchild(tmp_path: Path) -> int:
    deadline = time.monotonic() + 5
    while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text().strip():
        assert time.monotonic() < deadline, "the child did not start its own child"
        time.sleep(0.02)
    return int((tmp_path / "pid").read_text())


def test_output_and_exit_code_are_returned_and_only_the_tail_of_stderr_is_kept() -> None:
    script = (
        'i=0; while [ $i -lt 3000 ]; do echo "complaint $i padding padding padding" >&2; i=$((i+1)); done; '
        "echo out; exit 3"
    )
    done = process.run(["/bin/sh", "-c", script], "test", timeout=30)
    assert (done.returncode, done.stdout) == (3, "out\n")
    assert len(done.stderr) <= process.STDERR_TAIL and done.stderr.endswith("complaint 2999 padding padding padding\n")
    assert "complaint 0 " not in done.stderr  # 3000 lines are more than the tail keeps


def test_a_consumer_gets_stdout_as_it_comes() -> None:
    blocks: list[bytes] = []
    done = process.run(["/bin/sh", "-c", "printf 'a\\rb\\n'"], "test", timeout=30, on_stdout=blocks.append)
    assert b"".join(blocks) == b"a\rb\n" and done.stdout == ""


def test_the_deadline_stops_the_child_and_what_it_started(tmp_path: Path) -> None:
    script = f"sleep 300 & echo $! > {tmp_path}/pid; wait"
    with pytest.raises(TransientError, match=r"sh gave no result within 1s \(stopped\)"):
        process.run(["/bin/sh", "-c", script], "test", timeout=1)
    assert gone(grandchild(tmp_path)), "the child's own child outlived the deadline"


def test_cancelling_the_step_stops_the_child_and_what_it_started(tmp_path: Path) -> None:
    event = threading.Event()
    raised: list[BaseException] = []

    def step() -> None:
        with cancel.scope(event):
            try:
                process.run(["/bin/sh", "-c", f"sleep 300 & echo $! > {tmp_path}/pid; wait"], "test", timeout=600)
            except BaseException as e:
                raised.append(e)

    worker = threading.Thread(target=step, daemon=True)
    worker.start()
    pid = grandchild(tmp_path)
    event.set()
    worker.join(15)
    assert not worker.is_alive() and isinstance(raised[0], cancel.Cancelled)
    assert gone(pid)


def test_a_grandchild_holding_the_pipe_does_not_hold_the_caller(tmp_path: Path) -> None:
    # the child exits at once, but the sleep it left behind keeps stdout open: the call ends after LINGER anyway
    done = process.run(["/bin/sh", "-c", f"sleep 300 & echo $! > {tmp_path}/pid; echo started"], "test", timeout=60)
    assert (done.returncode, done.stdout) == (0, "started\n")
    assert gone(grandchild(tmp_path))


def test_a_child_that_cannot_start_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="cannot be started"):
        process.run([str(tmp_path / "no-such-binary")], "test", timeout=5)


def test_a_child_dies_with_the_agent_killed_by_sigkill(tmp_path: Path) -> None:
    """kill -9 of the agent (another agent resumes the step): the rsync or restic it ran must not go on writing."""
    agent = subprocess.Popen([sys.executable, "-c", (
        "from integrations import process; "
        f"process.run(['sh', '-c', 'echo $$ > {tmp_path}/pid; exec sleep 60'], 'test', 60)"
    )], cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    try:
        child = grandchild(tmp_path)
    finally:
        agent.kill()
        agent.wait(10)
    assert gone(child)
