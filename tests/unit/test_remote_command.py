"""Remote commands over SSH: one deadline for the whole command (a silent ``du`` of a large tree is not stuck), and
the step's cancellation stops it (issue 12). A fake paramiko channel at the transport seam, no lab."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from integrations import cancel
from integrations.errors import PermanentError, TransientError
from integrations.ssh import SSHCredentials
from integrations.transfer import RemoteServer, wait_readable


class Channel:
    """Silent for ``silent`` polls, then prints ``out`` and exits with ``status``; ``None`` silent never ends."""

    def __init__(self, silent: int | None, out: bytes = b"", status: int = 0) -> None:
        self.polls, self.silent, self.out, self.status = 0, silent, out, status
        self.command = ""

    def exec_command(self, command: str) -> None:
        self.command = command

    def _ended(self) -> bool:
        self.polls += 1
        return self.silent is not None and self.polls > self.silent

    def recv_ready(self) -> bool:
        return self._ended() and bool(self.out)

    def recv(self, _n: int) -> bytes:
        out, self.out = self.out, b""
        return out

    def recv_stderr_ready(self) -> bool:
        return False

    def exit_status_ready(self) -> bool:
        return self._ended()

    @property
    def eof_received(self) -> bool:
        return self._ended()

    def recv_exit_status(self) -> int:
        return self.status


@pytest.fixture
def server(tmp_path: Path) -> tuple[RemoteServer, list[Channel]]:
    """A server whose SSH client is a fake one handing out ``channels[0]``, and whose wait on it returns at once."""
    channels: list[Channel] = []

    class Client:
        def get_transport(self) -> Any:
            return self

        def open_session(self, timeout: float) -> Channel:
            return channels[0]

        def close(self) -> None:
            pass

    def connect(*_args: object) -> Any:
        return Client()

    creds = SSHCredentials(username="colo", known_hosts=tmp_path / "kh")
    return RemoteServer("127.0.2.1", 2222, creds, connect=connect, wait=lambda _channel, _seconds: None), channels


def test_a_long_silence_is_not_a_failure(server: tuple[RemoteServer, list[Channel]]) -> None:
    remote, channels = server
    channels.append(Channel(silent=5000, out=b"123456\t/srv/data\n123456\ttotal\n"))
    assert remote.disk_usage(["/srv/data"]) == 123456
    assert channels[0].command == "du -sbc -- /srv/data" and channels[0].polls > 5000


def test_the_whole_command_has_one_deadline(server: tuple[RemoteServer, list[Channel]]) -> None:
    remote, channels = server
    channels.append(Channel(silent=None))
    with pytest.raises(TransientError, match="no result within its time limit"):
        remote.run("sleep 999", timeout=0.2)
    channels[0] = Channel(silent=0, status=2)
    with pytest.raises(PermanentError, match="exited 2"):
        remote.run("false")


def test_a_cancelled_step_stops_its_remote_command(server: tuple[RemoteServer, list[Channel]]) -> None:
    remote, channels = server
    channels.append(Channel(silent=None))
    event = threading.Event()
    raised: list[BaseException] = []

    def step() -> None:
        with cancel.scope(event):
            try:
                remote.run("du -sbc -- /srv", timeout=3600)
            except BaseException as e:
                raised.append(e)

    worker = threading.Thread(target=step, daemon=True)
    worker.start()
    event.set()
    worker.join(10)
    assert not worker.is_alive() and isinstance(raised[0], cancel.Cancelled)


def test_the_wait_between_reads_returns_once_the_channel_has_something_or_at_its_time() -> None:
    """The real wait the fake above stands in for (a channel is a socket to select on)."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        started = time.monotonic()
        wait_readable(ours, 0)  # type: ignore[arg-type]  # nothing to read: back at once
        theirs.sendall(b"123456\t/srv/data\n")
        wait_readable(ours, 60)  # type: ignore[arg-type]  # something to read: back without waiting out the 60 s
        assert time.monotonic() - started < 10 and ours.recv(64) == b"123456\t/srv/data\n"
