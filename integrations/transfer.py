"""Files to and from a server over SSH: ``rsync`` for the data, a paramiko session for measuring and checksums.

Host keys are verified against known_hosts on both paths (``StrictHostKeyChecking=yes`` for rsync's ssh, paramiko's
RejectPolicy for the rest). Path names never pass through a shell unquoted: rsync gets ``-s`` (``--protect-args``,
named ``--secluded-args`` since 3.3: the remote side receives them verbatim) and remote commands quote every path
with :func:`shlex.quote`.
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import shlex
import time
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import paramiko
from pydantic import BaseModel, ConfigDict

from integrations import cancel, process, ssh
from integrations.errors import IntegrationError, PermanentError, TransientError

SYSTEM = "server"
_PROGRESS = re.compile(r"^\s*([\d,]+)\s+(\d+)%")
# rsync exit codes where the network or the far end went away: a retry can help.
_TRANSIENT_EXIT = {5, 10, 12, 30, 35, 255}
# rsync's complaint about one file or directory it could not read: `rsync: [sender] send_files failed to open
# "/srv/a": Permission denied (13)`, `rsync: [sender] opendir "/srv/b" failed: Permission denied (13)`.
_UNREADABLE = re.compile(r'^rsync: (?:\[\w+\] )?[^"]*"(?P<path>[^"]+)"[^:]*: (?P<why>[^()]+?) \(\d+\)')
NAMED_MAX = 10  # unreadable files named in an error (the count says how many more rsync reported)
TRANSFER_TIMEOUT = 6 * 3600.0  # as long as the backup and restore steps allow; a cancelled step stops it sooner
MEASURE_TIMEOUT = 3 * 3600.0  # du or sha256sum of a large tree: silent for a long time, not stuck


class TransferStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    files: int
    bytes_transferred: int
    total_bytes: int
    seconds: float
    file_list_seconds: float = 0.0  # rsync's own "File list generation time": the scan of the source tree


def check_remote_path(path: str) -> str:
    """An absolute, normalised path without control characters or ``..``: safe to hand to rsync and ssh."""
    if not path.startswith("/"):
        raise ValueError(f"path {path!r} is not absolute")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise ValueError(f"path {path!r} contains a control character")
    if ".." in PurePosixPath(path).parts:
        raise ValueError(f"path {path!r} contains '..'")
    normal = str(PurePosixPath(path))
    if normal == "/":
        raise ValueError("path '/' (the whole file system) is not accepted")
    return normal


class PartialTransfer(PermanentError):
    """rsync copied what it could read and could not read the rest (exit 23): ``unreadable`` names those (the first
    :data:`NAMED_MAX`, with rsync's reason), ``count`` says how many rsync reported, ``stats`` what was copied."""

    def __init__(self, where: str, unreadable: tuple[str, ...], count: int, stats: TransferStats,
                 cut: bool = False) -> None:  # fmt: skip
        more = f" (+{count - len(unreadable)} more)" if count > len(unreadable) else ""
        many = f"at least {count}" if cut else str(count)  # ``cut``: only the tail of rsync's stderr was kept
        super().__init__(SYSTEM, f"rsync {where}: {many} file(s) could not be read: {'; '.join(unreadable)}{more}")
        self.unreadable = unreadable
        self.count = count
        self.stats = stats


def unreadable_files(stderr: str) -> list[str]:
    """``path: reason`` for each file or directory rsync's stderr says it could not read, in its order, once each."""
    found: dict[str, str] = {}
    for line in stderr.splitlines():
        if m := _UNREADABLE.match(line.strip()):
            found.setdefault(m.group("path"), m.group("why").strip())
    return [f"{path}: {why}" for path, why in found.items()]


def wait_readable(channel: paramiko.Channel, seconds: float) -> None:
    """Until ``channel`` has something to read or has closed, at most ``seconds``."""
    select.select([channel], [], [], seconds)


class RemoteServer:
    """A server reached over SSH: ``connect`` opens an authenticated client (:func:`ssh.connect`), ``wait`` waits
    on a remote command's channel between reads (:func:`wait_readable`)."""

    def __init__(self, host: str, port: int, creds: ssh.SSHCredentials, bwlimit_kbps: int | None = None, *,
                 connect: Callable[[str, str, int, ssh.SSHCredentials], paramiko.SSHClient] = ssh.connect,
                 wait: Callable[[paramiko.Channel, float], None] = wait_readable) -> None:  # fmt: skip
        self.host = host
        self.port = port
        self.creds = creds
        self.bwlimit_kbps = bwlimit_kbps
        self._connect = connect
        self._wait = wait

    @property
    def where(self) -> str:
        return f"{self.creds.username}@{self.host}:{self.port}"

    # -- remote commands --------------------------------------------------------------------------------
    def run(self, command: str, timeout: float = 120.0) -> str:
        """``command``'s stdout; ``timeout`` bounds the whole command (a long silence is not a failure: ``du`` of
        a large tree prints nothing until it ends), and the step's cancellation stops it."""
        what = f"{self.where}: {command.split()[0]}"
        cancel.check(SYSTEM)
        client = self._connect(SYSTEM, self.host, self.port, self.creds)
        try:
            transport = client.get_transport()
            assert transport is not None
            channel = transport.open_session(timeout=self.creds.timeout)
            channel.exec_command(command)
            out, err, status = _collect(channel, time.monotonic() + timeout, what, self._wait)
        except IntegrationError:
            raise
        except Exception as e:
            raise ssh.translate(SYSTEM, what, e) from e
        finally:
            client.close()  # also ends a command stopped by the deadline: its pipes close
        if status != 0:
            raise PermanentError(SYSTEM, f"{what} exited {status}: {err.strip()[-300:]}")
        return out

    def exists(self, path: str) -> bool:
        q = shlex.quote(check_remote_path(path))
        return self.run(f"if [ -e {q} ]; then echo yes; else echo no; fi").strip() == "yes"

    def disk_usage(self, paths: Sequence[str]) -> int:
        """Bytes under ``paths`` on the server (``du -sbc``)."""
        quoted = " ".join(shlex.quote(check_remote_path(p)) for p in paths)
        out = self.run(f"du -sbc -- {quoted}", timeout=MEASURE_TIMEOUT)
        return int(out.strip().splitlines()[-1].split()[0])

    def checksums(self, root: str) -> dict[str, str]:
        """sha256 of every regular file under ``root``, keyed by path relative to it."""
        root = check_remote_path(root)
        q = shlex.quote(root)
        out = self.run(
            f"if [ -d {q} ]; then cd {q} && find . -type f -print0 | xargs -0 -r sha256sum -z --; fi",
            timeout=MEASURE_TIMEOUT,
        )
        return _parse_sha256z(out)

    # -- rsync ------------------------------------------------------------------------------------------
    def _ssh_command(self) -> str:
        ssh.require_known_hosts(SYSTEM, self.creds)
        args = ["ssh", "-p", str(self.port), "-l", self.creds.username, "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.creds.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", f"ConnectTimeout={int(self.creds.timeout)}",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]  # fmt: skip
        if self.creds.key_file:
            args += ["-o", "IdentitiesOnly=yes", "-i", str(self.creds.key_file)]
        return shlex.join(args)

    def _rsync(self, args: list[str], what: str, progress: Callable[[int, int], None] | None) -> TransferStats:
        cmd = ["rsync", "-a", "--numeric-ids", "-s", "--stats", "--info=progress2", "--no-inc-recursive",
               "-e", self._ssh_command()]  # fmt: skip
        if self.bwlimit_kbps:
            cmd.append(f"--bwlimit={self.bwlimit_kbps}")
        start = time.monotonic()
        output = _RsyncOutput(progress)
        done = process.run([*cmd, *args], SYSTEM, TRANSFER_TIMEOUT, on_stdout=output.feed)
        lines = output.finish()
        if done.returncode == 23 and (named := unreadable_files(done.stderr)):  # what could be read was copied
            stats = _stats(lines, time.monotonic() - start)
            cut = len(done.stderr.encode()) >= process.STDERR_TAIL - 1024
            raise PartialTransfer(f"{what} {self.where}", tuple(named[:NAMED_MAX]), len(named), stats, cut)
        if done.returncode not in (0, 24):  # 24: files vanished while reading: normal on a live server
            last = (done.stderr.strip().splitlines() or ["failed"])[-1]
            cls = TransientError if done.returncode in _TRANSIENT_EXIT else PermanentError
            raise cls(SYSTEM, f"rsync {what} {self.where}: exit {done.returncode}: {last[:300]}")
        return _stats(lines, time.monotonic() - start)

    def pull(
        self, paths: Sequence[str], dest: Path, progress: Callable[[int, int], None] | None = None
    ) -> TransferStats:
        """Mirror ``paths`` into ``dest``, keeping their full path (``dest/var/www/...``); files gone on the
        server are deleted from ``dest``."""
        dest.mkdir(parents=True, exist_ok=True)
        sources = [f"{self.host}:{check_remote_path(p)}" for p in paths]
        return self._rsync(["-R", "--delete", "--", *sources, f"{dest}/"], "pull from", progress)

    def push(self, source: Path, path: str, delete: bool = True,
             progress: Callable[[int, int], None] | None = None) -> TransferStats:  # fmt: skip
        """Make ``path`` on the server hold what ``source`` holds (checksums compared, not times)."""
        target = check_remote_path(path)
        args = ["--checksum", *(["--delete"] if delete else []), "--", f"{source}/", f"{self.host}:{target}/"]
        return self._rsync(args, "push to", progress)


class _RsyncOutput:
    """rsync's stdout as it comes, in blocks: progress redraws (``\\r``) to the callback, the rest kept as lines
    (a byte at a time cost rsync CPU: progress2 redraws many times a second)."""

    def __init__(self, progress: Callable[[int, int], None] | None) -> None:
        self._progress = progress
        self._buf = b""
        self.lines: list[str] = []

    def feed(self, block: bytes) -> None:
        parts = re.split(rb"[\r\n]", self._buf + block)
        self._buf = parts.pop()
        for part in parts:
            text = part.decode("utf-8", "replace")
            if m := _PROGRESS.match(text):
                if self._progress:
                    self._progress(int(m.group(1).replace(",", "")), int(m.group(2)))
            elif text.strip():
                self.lines.append(text)

    def finish(self) -> list[str]:
        if self._buf.strip():
            self.lines.append(self._buf.decode("utf-8", "replace"))
            self._buf = b""
        return self.lines


def _collect(channel: paramiko.Channel, deadline: float, what: str,
             wait: Callable[[paramiko.Channel, float], None]) -> tuple[str, str, int]:  # fmt: skip
    """Read a command's stdout and stderr (tail) until it exited and closed its output, or the deadline; ``wait``
    waits on the channel between reads."""
    out: list[bytes] = []
    err = b""
    while True:
        if channel.recv_ready():
            out.append(channel.recv(65536))
        elif channel.recv_stderr_ready():
            err = (err + channel.recv_stderr(65536))[-65536:]
        elif channel.exit_status_ready() and channel.eof_received:
            break
        else:
            if cancel.cancelled():
                raise cancel.Cancelled(SYSTEM, f"{what}: stopped, the step was cancelled after its timeout")
            if time.monotonic() >= deadline:
                raise TransientError(SYSTEM, f"{what}: no result within its time limit (stopped)")
            wait(channel, process.POLL)
    status = channel.recv_exit_status()
    return b"".join(out).decode("utf-8", "surrogateescape"), err.decode("utf-8", "replace"), status


def local_size(root: Path) -> int:
    """Bytes in the regular files under ``root`` (symlinks not followed); 0 when it does not exist."""
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def local_checksums(root: Path) -> dict[str, str]:
    """sha256 of every regular file under ``root``, keyed like :meth:`RemoteServer.checksums`."""
    sums: dict[str, str] = {}
    if not root.is_dir():
        return sums
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            digest = hashlib.sha256()
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            sums[str(path.relative_to(root))] = digest.hexdigest()
    return sums


def _parse_sha256z(out: str) -> dict[str, str]:
    sums: dict[str, str] = {}
    for record in out.split("\0"):
        if not record:
            continue
        digest, _, name = record.partition("  ")
        sums[name.removeprefix("./")] = digest.lstrip("\\")
    return sums


def _stats(lines: list[str], seconds: float) -> TransferStats:
    def number(label: str) -> int:
        for line in lines:
            if line.startswith(label):
                m = re.search(r"([\d,]+)", line[len(label) :])
                return int(m.group(1).replace(",", "")) if m else 0
        return 0

    scan = next((line for line in lines if line.startswith("File list generation time:")), "")
    m = re.search(r"([\d.]+) seconds", scan)
    return TransferStats(
        files=number("Number of regular files transferred:"), bytes_transferred=number("Total transferred file size:"),
        total_bytes=number("Total file size:"), seconds=round(seconds, 3),
        file_list_seconds=float(m.group(1)) if m else 0.0,
    )  # fmt: skip
