"""One executor per run across processes on a SQLite store (issue 30, item 1): the run's lease and the resource
locks are file locks the kernel holds for a process and drops when it dies, SIGKILL included."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from agent.engine.executor import Executor, run_lease
from agent.engine.locks import FileLocks, LockTimeout, locks_for
from agent.engine.registry import ObjectRef
from agent.engine.store import Store
from tests.unit.engine.test_executor import playbook, wait_until
from tests.unit.engine.world import FakeClock, RecordingTracker, World, make_registry

HOLD = """
import sys
from pathlib import Path
from agent.engine.locks import FileLocks
with FileLocks(Path(sys.argv[1])).hold(sys.argv[2], timeout=5):
    print("held", flush=True)
    sys.stdin.read()  # until the parent closes it, or kills this process
"""


def holding_process(directory: Path, name: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(directory), name], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3])  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_lock_another_process_holds_is_waited_for_named_and_freed_by_its_death(tmp_path: Path) -> None:
    locks = FileLocks(tmp_path / "locks")
    child = holding_process(tmp_path / "locks", "run:7f3a")
    try:
        assert locks.held("run:7f3a") and not locks.held("run:other")
        assert f"pid {child.pid}" in (locks.holder("run:7f3a") or "")
        with pytest.raises(LockTimeout, match=f"pid {child.pid}"), locks.hold("run:7f3a", timeout=0.05):
            pytest.fail("a lock another process holds was granted")
    finally:
        child.kill()  # SIGKILL: no cleanup of its own runs
        child.wait(10)
    assert not locks.held("run:7f3a") and locks.holder("run:7f3a") is None
    with locks.hold("run:7f3a", timeout=1):
        assert locks.held("run:7f3a")


def test_a_released_lock_leaves_no_file_and_a_waiter_locks_the_paths_new_file(tmp_path: Path) -> None:
    """The holder unlinks the file as it lets go (no file per run left behind); a waiter already on that file then
    starts again on the path's new one: had it kept the unlinked file, a third process would lock beside it."""
    first, second, third = (FileLocks(tmp_path / "locks") for _ in range(3))
    path = first.path("rack:12")
    got = threading.Event()
    release = threading.Event()

    def waiter() -> None:
        with second.hold("rack:12", timeout=10):
            got.set()
            release.wait(10)

    with first.hold("rack:12"):
        thread = threading.Thread(target=waiter)
        thread.start()
        assert wait_until(lambda: _open_descriptors(path) == 2)  # the waiter has the same file open
    assert got.wait(10)
    with pytest.raises(LockTimeout), third.hold("rack:12", timeout=0.05):
        pytest.fail("a third process locked the lock's path beside the waiter")
    release.set()
    thread.join(10)
    assert list((tmp_path / "locks").iterdir()) == []


def _open_descriptors(path: Path) -> int:
    found = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            found += fd.readlink() == path
    return found


def test_names_from_netbox_stay_inside_the_lock_directory(tmp_path: Path) -> None:
    locks = FileLocks(tmp_path / "locks")
    for name in ("site:../../etc/passwd", "rack:/tmp/x", "backup-mirror:12\n", "a" * 300):
        assert locks.path(name).parent == tmp_path / "locks"
    assert locks.path("site:1") != locks.path("site_1")  # the readable prefix alone would collide


def test_the_store_decides_the_lock_namespace(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    locks = locks_for(store.engine)
    assert isinstance(locks, FileLocks) and locks.path("x").parent == tmp_path / "runs.sqlite3.locks"


def test_a_second_agent_never_drives_a_run_the_first_one_drives(store: Store, tmp_path: Path) -> None:
    """Two executors on one store with their own lock managers, as a `serve` and a `dcagent run` beside it: the
    second waits for the first's lease, then finds the run done; no step runs twice."""
    world = World()
    pb = playbook(tmp_path, world)

    def agent() -> Executor:
        return Executor(store, {pb.name: pb}, None, RecordingTracker(), locks_for(store.engine), FakeClock(),
                        registry=make_registry(world))  # fmt: skip

    first, second = agent(), agent()
    run_id, _ = first.create("selftest", ObjectRef("dcim.device", 42), "srv-1", "webhook")
    seen: dict[str, object] = {}

    def beside() -> None:  # inside the first's step note-1: the second process is asked to drive the same run
        later: Future[object] = second.submit(run_id)  # type: ignore[assignment]
        seen["waited"] = not _done_within(later, 0.5)
        seen["holder"] = second.locks.holder(run_lease(run_id))
        seen["later"] = later

    world.during["note-1"] = beside
    try:
        assert first.execute(run_id).status == "done"  # type: ignore[union-attr]
        later = seen["later"]
        assert isinstance(later, Future)
        assert later.result(10).status == "done"
    finally:
        first.shutdown()
        second.shutdown()
    assert seen["waited"] is True and "pid" in str(seen["holder"])
    assert world.log == ["reserve 0", "note note-1", "reserve 1", "note note-2"]  # every step once


def _done_within(future: Future[object], seconds: float) -> bool:
    try:
        future.result(seconds)
    except TimeoutError:
        return False
    return True
