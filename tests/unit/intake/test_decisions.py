"""An office's chain of decisions (disposition → approval, then a closing review): each checked against the
changelog — made by a member of its group, not by whoever filed the request, in order; a refused decision loses
its tag, the journal says why and nothing runs; a complete chain starts one run that records every decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.engine.calendar import OfficeCalendar
from agent.engine.errors import PlaybookError
from agent.engine.executor import Executor
from agent.engine.locks import InProcessLocks
from agent.engine.playbook import Trigger, load_playbook
from agent.engine.registry import ObjectRef
from agent.engine.store import Store
from agent.intake.decisions import check_chain
from agent.intake.service import IntakeService
from integrations.netbox import Approval, DeviceSpec, NetBoxUser, RequestHistory, RequestObject
from tests.unit.engine.world import FakeClock, RecordingTracker, World, make_registry

CHAIN = """\
name: batam
title: Colocation
sop: {number: "01/SOP", office: "Batam"}
trigger:
  object_type: dcim.device
  tag: sop-colocation
  status: planned
  created_for_request: true
  decisions:
    - {tag: disposisi, title: Disposisi Kepala Dinas, group: kepala-dinas, sop_step: "000.2", sla: 1d}
    - {tag: approved, title: Penugasan Kepala Bidang, group: kepala-bidang, sop_step: "000.3", sla: 1d}
  review: {tag: reviewed, title: Pemeriksaan Kepala Dinas, group: kepala-dinas, sop_step: "000.11"}
steps:
  - step: note
    sla: 1d
"""
GROUPS = {"kadis": {"kepala-dinas"}, "kabid": {"kepala-bidang"}, "staf": set(), "admin": {"kepala-bidang"}}


class ChainNetBox:
    """The object's tags and the changelog's additions: who added which tag, when (minutes past nine)."""

    def __init__(self, tags: list[str], added: dict[str, tuple[str, int]], created: str | None = "admin") -> None:
        self.tags = tags
        self.added = added
        self.created = created  # who created the object (the changelog's create action), None: no such entry
        self.journal_entries: list[tuple[str, str]] = []
        self.reads: list[str] = []

    def obj(self) -> RequestObject:
        return RequestObject(object_type="dcim.device", id=9, name="srv-9", status="planned", tags=tuple(self.tags),
                             custom_fields={}, site="dc-batam")  # fmt: skip

    def request_history(self, object_type: str, object_id: int) -> RequestHistory:
        self.reads.append("changelog")
        added = {t: Approval(username=u, time=f"2026-12-01T09:{m:02d}:00+07:00") for t, (u, m) in self.added.items()}
        made = Approval(username=self.created, time="2026-12-01T08:00:00+07:00") if self.created else None
        return RequestHistory(additions=added, created=made)

    def user_groups(self, username: str) -> frozenset[str]:
        self.reads.append(f"user {username}")
        return frozenset(GROUPS.get(username, set()))

    def users(self, usernames: list[str]) -> dict[str, NetBoxUser]:
        self.reads.append("users " + ",".join(usernames))
        return {u: NetBoxUser(username=u, full_name=u.upper(), groups=frozenset(GROUPS.get(u, set())))
                for u in usernames}  # fmt: skip

    def change_tags(self, object_type: str, object_id: int, add: Any = (), remove: Any = ()) -> tuple[str, ...]:
        self.tags = [t for t in self.tags if t not in remove] + [t for t in add if t not in self.tags]
        return tuple(self.tags)

    def add_journal(self, object_type: str, object_id: int, kind: str, comments: str) -> None:
        self.journal_entries.append((kind, comments))

    def device_spec(self, device_id: int, known: object = None) -> DeviceSpec:
        self.reads.append("device")
        return DeviceSpec(
            id=9, name="srv-9", site_id=1, site="dc-batam", rack_id=None, position=None, face=None, status="planned",
            u_height=1, full_depth=True, psu_draw_w=(350.0,), data_interfaces=("eth0",), tenant_id=3, tenant="Dinkes",
            role="server", platform=None, serial="SN9", asset_tag=None, device_type="R650", manufacturer="Dell",
            primary_ip=None, custom_fields={},
        )  # fmt: skip

    def site_region(self, site: str) -> str | None:
        return None


def intake_for(tmp_path: Path, playbook: str, text: str) -> tuple[IntakeService, Store]:
    """An intake over one playbook, a run store and the engine's test world (NetBox is given to ``take``)."""
    (tmp_path / f"{playbook}.yaml").write_text(text)
    reg = make_registry(World())
    pb = load_playbook(tmp_path / f"{playbook}.yaml", reg)
    store = Store(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    store.migrate()
    ex = Executor(store, {pb.name: pb}, None, RecordingTracker(), InProcessLocks(), FakeClock(), registry=reg)
    return IntakeService(None, ex), store  # type: ignore[arg-type]


@pytest.fixture
def intake(tmp_path: Path) -> tuple[IntakeService, Store]:
    return intake_for(tmp_path, "batam", CHAIN)


def take(intake: tuple[IntakeService, Store], nb: ChainNetBox) -> Any:
    service, _store = intake
    service.netbox = service.reviews.netbox = service.planner.netbox = nb  # type: ignore[assignment]
    return service.take(nb.obj(), "webhook", submit=False)


@pytest.mark.parametrize(
    ("added", "refused", "why"),
    [
        ({"disposisi": ("kadis", 1), "approved": ("admin", 2)}, "approved", "pengaju permohonan ini"),
        ({"disposisi": ("kadis", 1), "approved": ("staf", 2)}, "approved", "bukan anggota grup kepala-bidang"),
        ({"disposisi": ("kabid", 1), "approved": ("kabid", 2)}, "disposisi", "kepala-dinas"),
        ({"disposisi": ("kadis", 5), "approved": ("kabid", 2)}, "approved", "dibuat sebelum keputusan Disposisi"),
    ],
    ids=["self-approval", "outside the group", "disposition by the wrong official", "approved before disposed"],
)
def test_a_decision_that_fails_its_check_loses_its_tag_and_nothing_runs(
    intake: tuple[IntakeService, Store], added: dict[str, tuple[str, int]], refused: str, why: str
) -> None:
    nb = ChainNetBox(["sop-colocation", "disposisi", "approved"], {"sop-colocation": ("admin", 0), **added})
    taken = take(intake, nb)
    assert [t.run_id for t in taken] == [None]
    assert refused not in nb.tags and "sop-colocation" in nb.tags
    [(kind, text)] = nb.journal_entries
    assert kind == "warning" and why in text and f"tag {refused}" in text, text
    assert intake[1].list_runs() == []


@pytest.mark.parametrize("decider", ["kabid", "kadis"], ids=["approval", "disposition"])
def test_the_objects_creator_may_not_decide_a_request_a_colleague_tagged(
    intake: tuple[IntakeService, Store], decider: str
) -> None:
    """Issue 30 #5: the device's creator is as much the requester as whoever added the request tag."""
    nb = ChainNetBox(["sop-colocation", "disposisi", "approved"],
                     {"sop-colocation": ("staf", 0), "disposisi": ("kadis", 1), "approved": ("kabid", 2)},
                     created=decider)  # fmt: skip
    taken = take(intake, nb)
    assert [t.run_id for t in taken] == [None] and intake[1].list_runs() == []
    [(kind, text)] = nb.journal_entries
    assert kind == "warning" and "pembuat objek permohonan ini" in text and decider in text, text


def test_on_an_object_not_created_for_the_request_its_creator_may_decide(tmp_path: Path) -> None:
    """A maintenance or a withdrawal is asked on a server someone registered long before: that person (now the head
    of division, say) may approve it; only the tagger is the requester there."""
    intake = intake_for(tmp_path, "batam", CHAIN.replace("  created_for_request: true\n", ""))
    nb = ChainNetBox(["sop-colocation", "disposisi", "approved"],
                     {"sop-colocation": ("staf", 0), "disposisi": ("kadis", 1), "approved": ("kabid", 2)},
                     created="kabid")  # fmt: skip
    [taken] = take(intake, nb)
    assert taken.run_id is not None, taken.note


def test_the_objects_creator_may_not_close_the_review(intake: tuple[IntakeService, Store]) -> None:
    service, store = intake
    nb = ChainNetBox(["reviewed"], {"sop-colocation": ("staf", 0), "reviewed": ("kadis", 31)}, created="kadis")
    run_id, _ = service.executor.create("batam", ObjectRef("dcim.device", 9), "srv-9", "webhook", "kabid", None,
                                        request={"requester": "staf"})  # fmt: skip
    store.set_run_status(run_id, "done", FakeClock().now())
    [refused] = take(intake, nb)
    assert "pembuat objek permohonan ini" in refused.note and "reviewed" not in nb.tags
    run = store.get_run(run_id)
    assert run is not None and run.request is not None and "review" not in run.request


def test_a_complete_chain_starts_one_run_that_records_each_decision(intake: tuple[IntakeService, Store]) -> None:
    nb = ChainNetBox(["sop-colocation", "disposisi"], {"sop-colocation": ("admin", 0), "disposisi": ("kadis", 1)})
    [waiting] = take(intake, nb)
    assert (
        waiting.run_id is None
        and "menunggu keputusan Penugasan Kepala Bidang" in waiting.note
        and nb.journal_entries == []
    )
    nb.tags.append("approved")
    nb.added["approved"] = ("kabid", 2)
    [started] = take(intake, nb)
    assert started.created and started.run_id is not None
    run = intake[1].get_run(started.run_id)
    assert run is not None and run.approver == "kabid" and run.request is not None
    assert run.request["requester"] == "admin"
    assert run.request["filed_at"] == "2026-12-01T09:00:00+07:00"  # the first decision's standard counts from it
    assert [(d["user"], d["sop_step"], d["time"]) for d in run.request["decisions"]] == [
        ("kadis", "000.2", "2026-12-01T09:01:00+07:00"), ("kabid", "000.3", "2026-12-01T09:02:00+07:00")]  # fmt: skip
    assert nb.reads.count("changelog") == 2  # one changelog read per look at the chain
    assert [r for r in nb.reads if r.startswith("user")] == ["users admin,kadis", "users admin,kabid,kadis"]
    # the signatories' names come with the groups' read: the documents ask NetBox nothing more
    assert run.request["names"] == {"admin": "ADMIN", "kabid": "KABID", "kadis": "KADIS"}


def test_without_any_decision_tag_nothing_is_read(intake: tuple[IntakeService, Store]) -> None:
    nb = ChainNetBox(["sop-colocation"], {})
    [waiting] = take(intake, nb)
    assert waiting.run_id is None and nb.reads == []


def test_the_review_closes_the_done_run_once_and_a_stray_review_is_answered(
    intake: tuple[IntakeService, Store],
) -> None:
    service, store = intake
    nb = ChainNetBox(["reviewed"], {"reviewed": ("kadis", 30)})
    [stray] = take(intake, nb)
    assert (
        stray.run_id is None
        and "reviewed" not in nb.tags
        and "tidak ada pekerjaan selesai" in nb.journal_entries[-1][1]
    )
    run_id, _ = service.executor.create("batam", ObjectRef("dcim.device", 9), "srv-9", "webhook", "kabid", None,
                                        request={"requester": "admin"})  # fmt: skip
    store.set_run_status(run_id, "done", FakeClock().now())
    nb.tags.append("reviewed")
    nb.added["reviewed"] = ("admin", 31)  # the requester cannot close his own request
    [refused] = take(intake, nb)
    assert "pengaju permohonan ini" in refused.note and "reviewed" not in nb.tags
    nb.tags.append("reviewed")
    nb.added["reviewed"] = ("kadis", 32)
    [closed] = take(intake, nb)
    assert run_id[:8] in closed.note and nb.journal_entries[-1][0] == "success" and "reviewed" not in nb.tags
    run = store.get_run(run_id)
    assert run is not None and run.request is not None and run.request["review"]["user"] == "kadis"
    nb.tags.append("reviewed")  # reviewed twice: the run is closed already
    [again] = take(intake, nb)
    assert again.run_id is None and "tidak ada pekerjaan selesai" in again.note


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (("group: kepala-bidang, sop_step: \"000.3\"", "group: kepala-bidang, sop_step: \"000.3\", tag2: x"),
         "Extra inputs are not permitted"),
        (("tag: approved, title: Penugasan", "tag: disposisi, title: Penugasan"), "each decision needs its own tag"),
        (("tag: approved, title: Penugasan", "tag: setuju, title: Penugasan"), "must be approval_tag"),
        (("review: {tag: reviewed", "review: {tag: sop-colocation"), "is the request tag"),
    ],
)  # fmt: skip
def test_a_chain_that_cannot_work_does_not_load(tmp_path: Path, change: tuple[str, str], error: str) -> None:
    (tmp_path / "bad.yaml").write_text(CHAIN.replace(*change))
    with pytest.raises(PlaybookError, match=error) as e:
        load_playbook(tmp_path / "bad.yaml", make_registry(World()))
    assert "bad.yaml:" in str(e.value)


def test_each_decision_is_measured_against_its_standard_in_office_time() -> None:
    """Filed on Friday afternoon, disposed on Monday afternoon: within one working day (the weekend does not count);
    approved on Wednesday morning: past one working day from the disposition."""
    trigger = Trigger.model_validate(yaml.safe_load(CHAIN.replace("sla: 1d}", "sla: 1 hari}"))["trigger"])
    at = {"sop-colocation": ("admin", "2026-11-27T15:00"), "disposisi": ("kadis", "2026-11-30T15:00"),
          "approved": ("kabid", "2026-12-02T10:00")}  # fmt: skip
    additions = {tag: Approval(username=u, time=f"{when}:00+07:00") for tag, (u, when) in at.items()}
    state = check_chain(trigger, set(at), additions, lambda u: frozenset(GROUPS[u]), "id", OfficeCalendar())
    assert state.complete and [(m.standard, m.within) for m in state.made] == [
        ("1 hari kerja", True), ("1 hari kerja", False)]  # fmt: skip
