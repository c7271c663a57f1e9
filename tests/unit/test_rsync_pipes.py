"""rsync's output read by dcagent: its progress lines (redrawn with carriage returns) and --stats, while its stderr
is drained at the same time — a tree with many unreadable files writes more than a pipe holds, and an undrained
stderr blocked rsync until the step's timeout (issue 12). A stand-in rsync on PATH, no lab."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from integrations import cancel
from integrations.errors import PermanentError
from integrations.ssh import SSHCredentials
from integrations.transfer import NAMED_MAX, PartialTransfer, RemoteServer, TransferStats, unreadable_files
from tests.unit.test_process import gone

FAKE = """#!/bin/sh
# 200 KiB of complaints on stderr (more than a pipe holds), progress with \\r, then rsync's --stats
i=0
while [ $i -lt 2000 ]; do
  echo "rsync: [sender] send_files failed to open \\"/srv/data/locked-file-$i\\": Permission denied (13) padding" >&2
  i=$((i+1))
done
printf '      1,048,576  50%%    1.00MB/s    0:00:01\\r      2,097,152 100%%    2.00MB/s    0:00:01\\n'
echo "Number of regular files transferred: 7"
echo "Total file size: 2,097,152 bytes"
echo "Total transferred file size: 2,097,152 bytes"
echo "File list generation time: 0.250 seconds"
exit ${FAKE_RSYNC_EXIT:-23}
"""


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteServer:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "rsync"
    fake.write_text(FAKE)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    known = tmp_path / "known_hosts"
    known.write_text("")
    return RemoteServer("127.0.2.1", 2222, SSHCredentials(username="colo", known_hosts=known))


def test_a_full_stderr_does_not_block_and_the_stats_and_progress_are_read(
    server: RemoteServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_RSYNC_EXIT", "24")  # files vanished while reading: a transfer that stands
    seen: list[tuple[int, int]] = []
    result: list[TransferStats] = []
    worker = threading.Thread(
        target=lambda: result.append(
            server.pull(["/srv/data"], tmp_path / "staging", lambda done, pct: seen.append((done, pct)))
        ),
        daemon=True,
    )
    worker.start()
    worker.join(20)  # with stderr undrained the stand-in blocks for ever: fail, do not hang the suite
    assert result, "rsync blocked on its stderr"
    stats = result[0]
    assert (stats.files, stats.total_bytes, stats.file_list_seconds) == (7, 2_097_152, 0.25)
    assert seen == [(1_048_576, 50), (2_097_152, 100)]


def test_a_failed_transfer_names_rsyncs_last_complaint(
    server: RemoteServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_RSYNC_EXIT", "11")  # a file I/O error: no file to name, rsync's last word
    with pytest.raises(PermanentError, match=r"exit 11: .*locked-file-1999"):
        server.pull(["/srv/data"], tmp_path / "staging")


def test_unreadable_files_are_named_with_rsyncs_reason_and_what_was_copied_is_counted(
    server: RemoteServer, tmp_path: Path
) -> None:
    """Exit 23 (issue 30, #16): not rsync's last line ("some files/attrs were not transferred") but the files, why,
    how many (only the tail of stderr is kept: "at least"), and the stats of what was read."""
    with pytest.raises(PartialTransfer) as caught:
        server.pull(["/srv/data"], tmp_path / "staging")
    e = caught.value
    assert len(e.unreadable) == NAMED_MAX and e.count > NAMED_MAX
    assert all(u.startswith("/srv/data/locked-file-") and u.endswith(": Permission denied") for u in e.unreadable)
    assert "Permission denied" in str(e) and "at least" in str(e) and f"+{e.count - NAMED_MAX} more" in str(e)
    assert (e.stats.files, e.stats.total_bytes) == (7, 2_097_152)
    assert unreadable_files(
        'rsync: [sender] opendir "/srv/a b" failed: Permission denied (13)\n'
        'rsync: [sender] link_stat "/srv/gone" failed: No such file or directory (2)\n'
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338)\n"
    ) == ["/srv/a b: Permission denied", "/srv/gone: No such file or directory"]


def test_a_cancelled_transfer_stops_rsync_and_its_ssh(
    server: RemoteServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hanging = tmp_path / "hang" / "rsync"
    hanging.parent.mkdir()
    hanging.write_text(f"#!/bin/sh\nsleep 300 & echo $! > {tmp_path}/ssh.pid\nwait\n")  # rsync waiting on its ssh
    hanging.chmod(hanging.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{hanging.parent}{os.pathsep}{os.environ['PATH']}")
    event = threading.Event()
    raised: list[BaseException] = []

    def step() -> None:
        with cancel.scope(event):
            try:
                server.pull(["/srv/data"], tmp_path / "staging")
            except BaseException as e:
                raised.append(e)

    worker = threading.Thread(target=step, daemon=True)
    worker.start()
    pid_file = tmp_path / "ssh.pid"
    for _ in range(250):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        time.sleep(0.02)
    ssh_pid = int(pid_file.read_text())
    event.set()  # the step ran past its timeout
    worker.join(15)
    assert not worker.is_alive() and isinstance(raised[0], cancel.Cancelled)
    assert gone(ssh_pid), "rsync's ssh outlived the cancelled step"
