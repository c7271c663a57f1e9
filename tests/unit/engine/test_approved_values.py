"""The request as approved is what a run uses: the intake records it once, steps read it, a later edit in NetBox
changes nothing the run does; a re-attempted step knows it is not its first attempt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.engine.executor import Executor
from agent.engine.locks import InProcessLocks
from agent.engine.playbook import load_playbook
from agent.engine.registry import NoParams, Registry, RetryPolicy, StepContext, StepResult, step
from agent.engine.store import Store
from agent.intake.service import IntakeService, edited_fields
from agent.steps.request import approved_device
from integrations.netbox import Approval, DeviceSpec, RequestHistory, RequestObject
from tests.unit.engine.world import FakeClock, RecordingTracker

PLAYBOOK = """\
name: frozen
title: Frozen
sop: {number: "01/SOP/TEST", office: "Lab"}
trigger: {object_type: dcim.device, tag: sop-frozen, status: planned}
steps:
  - step: read_fqdn
    sla: 1h
  - step: read_fqdn
    id: read_again
    sla: 1h
"""


class FakeNetBox:
    """The three reads the intake and steps make, counted; ``fqdn`` is what NetBox holds now."""

    def __init__(self) -> None:
        self.fqdn = "web.dc.lab"
        self.calls: list[str] = []

    def _cf(self) -> dict[str, Any]:
        return {"dcagent_fqdn": self.fqdn}

    def get_object(self, object_type: str, key: int | str) -> RequestObject:
        self.calls.append("get_object")
        return RequestObject(object_type="dcim.device", id=42, name="srv-1", status="planned",
                             tags=("sop-frozen", "approved"), custom_fields=self._cf())  # fmt: skip

    def request_history(self, object_type: str, object_id: int) -> RequestHistory:
        self.calls.append("request_history")
        return RequestHistory(additions={"approved": Approval(username="kabid", time="2026-11-23T09:00:00+00:00")})

    def device_spec(self, device_id: int, known: object = None) -> DeviceSpec:
        self.calls.append("device_spec")
        return DeviceSpec(
            id=42, name="srv-1", site_id=1, site="dc-batam", rack_id=None, position=None, face=None, status="planned",
            u_height=1, full_depth=True, psu_draw_w=(350.0, 350.0), data_interfaces=("eth0",), data_interface_ids=(7,),
            tenant_id=3, tenant="Dinkes", role="server", platform="linux", serial="SN1", asset_tag=None,
            device_type="R650", manufacturer="Dell", primary_ip=None, custom_fields=self._cf(),
        )  # fmt: skip


class Services:
    def __init__(self, netbox: FakeNetBox) -> None:
        self.netbox = netbox


def registry(netbox: FakeNetBox, flaky: list[int]) -> Registry:
    reg = Registry()

    def read_fqdn(ctx: StepContext, params: NoParams) -> StepResult:
        if flaky and ctx.step == "read_again":
            flaky.pop()
            netbox.fqdn = "edited-after-approval.dc.lab"  # someone edits the field while the run is going
            raise ConnectionError("a retry can help")
        return StepResult.ok(fqdn=approved_device(ctx).custom_fields["dcagent_fqdn"], attempt=ctx.attempt)

    step("read_fqdn", timeout=5, retry=RetryPolicy(max_attempts=3, initial=0), params=NoParams, registry=reg)(read_fqdn)
    return reg


@pytest.fixture
def world(tmp_path: Path) -> tuple[IntakeService, Store, FakeNetBox]:
    store = Store(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    store.migrate()
    netbox = FakeNetBox()
    reg = registry(netbox, flaky=[1])
    (tmp_path / "frozen.yaml").write_text(PLAYBOOK)
    pb = load_playbook(tmp_path / "frozen.yaml", reg)
    ex = Executor(store, {pb.name: pb}, Services(netbox), RecordingTracker(), InProcessLocks(), FakeClock(),
                  registry=reg)  # fmt: skip
    return IntakeService(netbox, ex), store, netbox  # type: ignore[arg-type]


def test_steps_read_the_values_as_approved_not_a_later_edit(world: tuple[IntakeService, Store, FakeNetBox]) -> None:
    intake, store, netbox = world
    taken = intake.take(netbox.get_object("dcim.device", 42), "webhook", submit=False)
    run_id = taken[0].run_id
    assert run_id is not None and taken[0].created
    recorded = store.get_run(run_id)
    assert recorded is not None and recorded.request is not None
    assert recorded.request["object"]["custom_fields"] == {"dcagent_fqdn": "web.dc.lab"}
    assert recorded.request["device"]["data_interface_ids"] == [7]
    netbox.calls.clear()
    final = intake.executor.execute(run_id)
    assert final is not None and final.status == "done"
    assert netbox.fqdn == "edited-after-approval.dc.lab"  # the edit happened, between two attempts
    outputs = {s.key: s.output for s in final.steps}
    assert outputs["read_fqdn"] == {"fqdn": "web.dc.lab", "attempt": 1}
    assert outputs["read_again"] == {"fqdn": "web.dc.lab", "attempt": 2}  # retried: the step knows, the value holds
    assert netbox.calls == []  # no step read the device from NetBox


def test_a_trigger_for_an_active_run_joins_it_without_reading_netbox(
    world: tuple[IntakeService, Store, FakeNetBox],
) -> None:
    intake, _, netbox = world
    obj = netbox.get_object("dcim.device", 42)
    first = intake.take(obj, "webhook", submit=False)[0]
    netbox.calls.clear()
    again = intake.take(obj, "reconciler", submit=False)[0]
    assert (again.run_id, again.created, again.note) == (first.run_id, False, "joined the active run")
    assert netbox.calls == []  # neither the changelog (approval) nor the device was read again


def test_an_active_run_is_joined_after_its_own_steps_made_the_object_fail_the_trigger(
    world: tuple[IntakeService, Store, FakeNetBox],
) -> None:
    # A colocation sets its device active; an agent killed after that, started again on the request, finishes it.
    intake, _, netbox = world
    first = intake.take(netbox.get_object("dcim.device", 42), "cli", submit=False)[0]
    now_active = netbox.get_object("dcim.device", 42).model_copy(update={"status": "active"})
    again = intake.take(now_active, "cli", submit=False)[0]
    assert (again.run_id, again.created, again.note) == (first.run_id, False, "joined the active run")


def test_an_edit_after_approval_voids_it_before_the_next_step(
    world: tuple[IntakeService, Store, FakeNetBox],
) -> None:
    intake, _, netbox = world
    run_id = intake.take(netbox.get_object("dcim.device", 42), "webhook", submit=False)[0].run_id
    assert run_id is not None
    netbox.fqdn = "other.dc.lab"  # edited in NetBox after the approval; its webhook comes in
    joined = intake.take(netbox.get_object("dcim.device", 42), "webhook", submit=False)[0]
    assert joined.run_id == run_id and "dcagent_fqdn" in joined.note and "setujui kembali" in joined.note
    final = intake.executor.execute(run_id)
    assert final is not None and final.status == "failed"
    assert final.reason is not None and "diubah setelah disetujui (dcagent_fqdn)" in final.reason
    assert [s.status for s in final.steps if s.phase == "main"] == ["pending", "pending"]  # nothing ran
    tracker = intake.executor.tracker
    assert isinstance(tracker, RecordingTracker) and ("finished", run_id, "failed") in tracker.events


def test_what_dcagent_writes_back_is_no_edit_of_the_request() -> None:
    approved = FakeNetBox().get_object("dcim.device", 42)
    written = approved.model_copy(update={"status": "active", "tags": ("dcagent-running",), "custom_fields": {
        **approved.custom_fields, "dcagent_run_id": "r1", "dcagent_zabbix_hostid": "10650"}})  # fmt: skip
    assert edited_fields(approved, written) == []
    vlan_before = approved.model_copy(update={"custom_fields": {"dcagent_server_vlan": {"id": 3, "display": "A"}}})
    vlan_renamed = approved.model_copy(update={"custom_fields": {"dcagent_server_vlan": {"id": 3, "display": "B"}}})
    vlan_other = approved.model_copy(update={"custom_fields": {"dcagent_server_vlan": {"id": 4, "display": "A"}}})
    assert edited_fields(vlan_before, vlan_renamed) == []
    assert edited_fields(vlan_before, vlan_other) == ["dcagent_server_vlan"]
    assert edited_fields(approved, approved.model_copy(update={"tenant": "Disdik"})) == ["tenant"]
