"""A restore may replace only what a backup holds: its target is a backed-up path or inside one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext, StepResult
from agent.steps.restore import outside_backup, request_of
from integrations.backup import Snapshot
from tests.unit.backup_env import backup_services

segment = st.from_regex(r"\A[a-z0-9_]{1,8}\Z")
path = st.lists(segment, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


@pytest.mark.parametrize(
    ("target", "inside"),
    [("/srv/data/app", True), ("/srv/data/app/uploads", True), ("/srv/data", False), ("/srv", False),
     ("/srv/data/application", False), ("/srv/data/ap", False), ("/etc", True), ("/etc/ssh/sshd_config", True)],
)  # fmt: skip
def test_examples(target: str, inside: bool) -> None:
    assert outside_backup(target, ("/srv/data/app", "/etc")) is not inside


@given(path, st.lists(segment, max_size=3))
def test_a_backed_up_path_and_everything_below_it_may_be_restored(root: str, below: list[str]) -> None:
    assert not outside_backup("/".join([root, *below]), (root,))


@given(path, segment)
def test_a_parent_or_a_sibling_sharing_a_prefix_may_not(root: str, extra: str) -> None:
    parent = root.rsplit("/", 1)[0] or "/"
    assert outside_backup(parent, (root,))
    assert outside_backup(root + extra, (root,))  # /srv/app vs /srv/application: another directory


# -- the guard reads the snapshot, not the device's editable field (issue 30, #11) -------------------------------


class Repository:
    """The restic adapter's reading side: the device's backup snapshots, as ``restic snapshots --json`` lists them."""

    def __init__(self, *snaps: Snapshot) -> None:
        self.snaps = list(snaps)

    def snapshots(self, tags: Sequence[str] = ()) -> list[Snapshot]:
        return [s for s in self.snaps if set(tags) <= set(s.tags)]


class NetBox:
    def ssh_endpoint(self, device_id: int) -> tuple[str | None, int | None]:
        return "127.0.2.1", 2222


def snap(short_id: str, *paths: str) -> Snapshot:
    return Snapshot(id=short_id * 8, short_id=short_id, time=datetime(2026, 12, 1, 1, 0, tzinfo=UTC), host="srv-7",
                    paths=paths, tags=("dcagent", "device:7", "backup", f"run:{short_id}"))  # fmt: skip


def validate(tmp_path: Path, repo: Repository, backup_paths: str, target: str, wanted: str = "latest") -> StepResult:
    return REGISTRY.get("validate_restore_request").run(context(tmp_path, repo, backup_paths, target, wanted))


def context(tmp_path: Path, repo: Repository, backup_paths: str, target: str, wanted: str = "latest",
            outputs: dict[str, dict[str, str]] | None = None) -> StepContext:  # fmt: skip
    svc = backup_services(tmp_path)
    svc.__dict__["restic"] = repo
    svc.__dict__["netbox"] = NetBox()
    device = {"object_type": "dcim.device", "id": 7, "name": "srv-7", "status": "active", "tags": ["sop-restore"],
              "custom_fields": {"dcagent_backup_paths": backup_paths, "dcagent_restore_snapshot": wanted,
                                "dcagent_restore_target": target}}  # fmt: skip
    return StepContext(run_id="run-r", playbook="restore", step="validate_restore_request",
                       request=ObjectRef("dcim.device", 7), outputs=outputs or {}, services=svc, locks=InProcessLocks(),
                       clock=None, language="en", approved={"object": device})  # type: ignore[arg-type]  # fmt: skip


def test_a_widened_field_does_not_let_an_older_snapshot_replace_the_parent(tmp_path: Path) -> None:
    mirror = str(tmp_path / "staging" / "device-7")
    repo = Repository(snap("0ld0ld00", mirror + "/srv/app/uploads"), snap("n3wn3w00", mirror + "/srv/app"))
    # The field was widened to /srv/app after the older snapshot, which holds uploads only: the parent's other
    # files (etc/app.toml, db/dump.sql) are in no snapshot that a push with --delete would take them from.
    refused = validate(tmp_path, repo, "/srv/app", "/srv/app", wanted="0ld0ld00")
    assert refused.outcome == "rejected", "an older snapshot of uploads/ may not be pushed onto its parent"
    assert "0ld0ld00" in refused.reasons[0] and "/srv/app/uploads" in refused.reasons[0]
    inside = validate(tmp_path, repo, "/srv/app", "/srv/app/uploads/2026", wanted="0ld0ld00")
    assert inside.outcome == "ok"
    # The newest snapshot did back the parent up: restoring it there is what the owner asked for.
    assert validate(tmp_path, repo, "/srv/app", "/srv/app").outcome == "ok"
    # Narrowing the field does not forbid what the snapshot holds either: the snapshot decides.
    assert validate(tmp_path, repo, "/srv/app/uploads", "/srv/app").outcome == "ok"


def test_a_snapshot_that_does_not_say_what_it_holds_is_refused(tmp_path: Path) -> None:
    mirror = str(tmp_path / "staging" / "device-7")
    refused = validate(tmp_path, Repository(snap("wh0le000", mirror)), "/srv/app/uploads", "/srv/app/uploads")
    assert refused.outcome == "rejected" and "wh0le000" in refused.reasons[0]


def test_a_snapshot_from_a_moved_staging_directory_is_read_by_its_device_directory(tmp_path: Path) -> None:
    repo = Repository(snap("m0ved000", "/old/staging/device-7/srv/app/uploads"))
    assert validate(tmp_path, repo, "/srv/app", "/srv/app").outcome == "rejected"
    assert validate(tmp_path, repo, "/srv/app", "/srv/app/uploads").outcome == "ok"


@given(path, segment)
def test_the_snapshot_reads_back_the_paths_it_recorded(root: str, extra: str) -> None:
    mirror = "/var/lib/dcagent/staging/device-7"
    s = snap("p0000000", mirror + root, mirror + root + "/" + extra)
    assert s.held_paths(mirror) == (root, root + "/" + extra)
    assert s.held_paths(mirror + "/") == (root, root + "/" + extra)
    assert snap("p0000000", mirror).held_paths(mirror) is None
    assert snap("p0000000", "/elsewhere" + root).held_paths(mirror) is None


def test_the_later_steps_restore_the_snapshot_the_validation_checked(tmp_path: Path) -> None:
    """``latest`` is resolved once: a scheduled backup taken during a long restore is not what gets pushed."""
    mirror = str(tmp_path / "staging" / "device-7")
    repo = Repository(snap("0ld0ld00", mirror + "/srv/app"))
    checked = validate(tmp_path, repo, "/srv/app", "/srv/app")
    assert checked.outcome == "ok" and checked.output["snapshot_id"] == "0ld0ld00"
    repo.snaps.append(snap("n3wn3w00", mirror + "/srv/app/uploads"))  # the night's backup, of uploads/ only
    later = context(tmp_path, repo, "/srv/app/uploads", "/srv/app", outputs={"validate": dict(checked.output)})
    assert request_of(later).snapshot.short_id == "0ld0ld00"
