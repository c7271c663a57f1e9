"""Child processes (restic, rsync, git, ping) with a deadline and cancellation that reach the whole process tree.

Every child starts in its own session, so that what it starts (rsync's ssh, restic's sftp) is in its process group:
at the deadline, or when the step that runs it is cancelled, the group gets SIGTERM, then SIGKILL after
:data:`TERM_GRACE` seconds — nothing is left running after the step has moved on to a retry or an undo. Both pipes
are drained while the child runs (a full stderr pipe blocks a child that complains a lot), and only the tail of
stderr is kept. A grandchild that keeps a pipe open after the child exited is killed after :data:`LINGER` seconds.
On Linux a child dies with the agent (``PR_SET_PDEATHSIG``): after a ``kill -9`` of the agent, an orphaned rsync or
restic would go on writing beside the agent that resumes the step.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from integrations import cancel
from integrations.errors import PermanentError, TransientError

_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Tied to the thread that starts the child, which waits for it in run(): alive as long as the child is.
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


POLL = 0.2  # how often a waiting caller looks at its deadline and its step's cancellation
TERM_GRACE = 5.0  # SIGTERM, then this long, then SIGKILL
LINGER = 1.0  # after the child exited, how long a grandchild may keep its pipes open
STDERR_TAIL = 64 * 1024  # bytes of stderr kept: the last complaints are the ones that explain an exit code


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str  # empty when an ``on_stdout`` consumer took it
    stderr: str  # the last STDERR_TAIL bytes


class _Drain(threading.Thread):
    """Reads one pipe to its end: hands each block to ``consume`` or keeps it (whole, or only the tail)."""

    def __init__(self, pipe: int, consume: Callable[[bytes], None] | None, tail: int | None) -> None:
        super().__init__(daemon=True, name="dcagent-pipe")
        self._pipe, self._consume, self._tail = pipe, consume, tail
        self.chunks: list[bytes] = []
        self.error: Exception | None = None

    def run(self) -> None:
        kept = 0
        while block := os.read(self._pipe, 65536):
            if self._consume is not None:
                if self.error is None:
                    try:
                        self._consume(block)
                    except Exception as e:  # re-raised in run()'s thread; the pipe is still drained, or the child
                        self.error = e  # would block on it until its deadline
                continue
            self.chunks.append(block)
            kept += len(block)
            while self._tail is not None and kept - len(self.chunks[0]) >= self._tail:
                kept -= len(self.chunks.pop(0))

    def text(self) -> str:
        data = b"".join(self.chunks)
        return (data[-self._tail :] if self._tail else data).decode("utf-8", "replace")


def run(
    cmd: Sequence[str], system: str, timeout: float, env: Mapping[str, str] | None = None,
    on_stdout: Callable[[bytes], None] | None = None, cwd: Path | None = None,
) -> Finished:  # fmt: skip
    """Run ``cmd`` to its end within ``timeout`` seconds. A child that cannot start is a :class:`PermanentError`,
    the deadline a :class:`TransientError` (the child stopped), the step's cancellation :class:`cancel.Cancelled`;
    a non-zero exit is returned, for the caller to translate."""
    name = Path(cmd[0]).name
    cancel.check(system)
    try:
        proc = subprocess.Popen(
            list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
    except OSError as e:
        raise PermanentError(system, f"{name} cannot be started: {e.strerror or e}") from e
    assert proc.stdout is not None and proc.stderr is not None
    out = _Drain(proc.stdout.fileno(), on_stdout, None)
    err = _Drain(proc.stderr.fileno(), None, STDERR_TAIL)
    out.start()
    err.start()
    try:
        _wait(proc, system, name, time.monotonic() + timeout, timeout)
        for drain in (out, err):
            drain.join(LINGER)
        if out.is_alive() or err.is_alive():  # a grandchild still holds a pipe: it belongs to this call
            _signal_group(proc.pid, signal.SIGKILL)
    finally:
        if proc.returncode is None:  # deadline, cancellation or an error while waiting: stop the whole tree
            _stop(proc)
        out.join()
        err.join()
        proc.stdout.close()
        proc.stderr.close()
    if out.error is not None:
        raise out.error
    return Finished(proc.returncode, out.text() if on_stdout is None else "", err.text())


def _wait(proc: subprocess.Popen[bytes], system: str, name: str, deadline: float, timeout: float) -> None:
    while True:
        try:
            proc.wait(min(POLL, max(0.0, deadline - time.monotonic())))
            return
        except subprocess.TimeoutExpired:
            pass
        if cancel.cancelled():
            raise cancel.Cancelled(system, f"{name} stopped: the step was cancelled after its timeout")
        if time.monotonic() >= deadline:
            raise TransientError(system, f"{name} gave no result within {timeout:.0f}s (stopped)")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(TERM_GRACE)
    _signal_group(proc.pid, signal.SIGKILL)  # the child may have exited on SIGTERM and left its own children
    proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
