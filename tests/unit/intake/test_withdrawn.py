"""A request withdrawn while its run waits (issue 31: "a request withdrawn while it waits releases every
reservation"): the engineer takes the request's tag off in NetBox; the webhook's intake asks the waiting run to stop,
and it undoes what it reserved. A run that is running, or a request still tagged, is left alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agent.engine.executor import Executor
from agent.engine.locks import InProcessLocks
from agent.engine.playbook import load_playbook
from agent.engine.registry import NoParams, Registry, RetryPolicy, StepContext, StepResult, step
from agent.engine.store import Store
from agent.intake.service import IntakeService
from integrations.netbox import Approval, DeviceSpec, RequestHistory, RequestObject
from tests.unit.engine.world import FakeClock, RecordingTracker

PLAYBOOK = """\
name: coloc
title: Coloc
sop: {number: "01/SOP/TEST", office: "Lab"}
trigger: {object_type: dcim.device, tag: sop-coloc, status: planned}
steps:
  - step: reserve
    sla: 1h
  - step: wait_for_server
    sla: 1h
"""


class FakeNetBox:
    def __init__(self) -> None:
        self.tags = {"sop-coloc", "approved"}

    def get_object(self, object_type: str, key: int | str) -> RequestObject:
        return RequestObject(object_type="dcim.device", id=42, name="srv-1", status="planned",
                             tags=tuple(sorted(self.tags)), custom_fields={})  # fmt: skip

    def request_history(self, object_type: str, object_id: int) -> RequestHistory:
        return RequestHistory(additions={"approved": Approval(username="kabid", time="2026-11-23T09:00:00+00:00")})

    def device_spec(self, device_id: int, known: object = None) -> DeviceSpec:
        return DeviceSpec(
            id=42, name="srv-1", site_id=1, site="dc-batam", rack_id=None, position=None, face=None, status="planned",
            u_height=1, full_depth=True, psu_draw_w=(350.0,), data_interfaces=("eth0",), data_interface_ids=(7,),
            tenant_id=3, tenant="Dinkes", role="server", platform="linux", serial="SN1", asset_tag=None,
            device_type="R650", manufacturer="Dell", primary_ip=None, custom_fields={},
        )  # fmt: skip


class Services:
    def __init__(self, netbox: FakeNetBox) -> None:
        self.netbox = netbox


@pytest.fixture
def world(tmp_path: Path) -> tuple[IntakeService, FakeNetBox, list[str]]:
    store = Store(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    store.migrate()
    netbox, log, reg = FakeNetBox(), list[str](), Registry()

    def reserve(ctx: StepContext, params: NoParams) -> StepResult:
        log.append("reserve")
        return StepResult.ok()

    def unreserve(ctx: StepContext, params: NoParams, output: object) -> None:
        log.append("unreserve")

    def wait_for_server(ctx: StepContext, params: NoParams) -> StepResult:
        log.append("look")
        return StepResult.wait_until(ctx.clock.now() + timedelta(minutes=1), "waiting for the server", for_people=True)

    step("reserve", timeout=5, retry=RetryPolicy(max_attempts=1), undo=unreserve, params=NoParams,
         registry=reg)(reserve)  # fmt: skip
    step("wait_for_server", timeout=5, retry=RetryPolicy(max_attempts=1), params=NoParams,
         registry=reg)(wait_for_server)  # fmt: skip
    (tmp_path / "coloc.yaml").write_text(PLAYBOOK)
    pb = load_playbook(tmp_path / "coloc.yaml", reg)
    ex = Executor(store, {pb.name: pb}, Services(netbox), RecordingTracker(), InProcessLocks(), FakeClock(),
                  registry=reg)  # fmt: skip
    return IntakeService(netbox, ex), netbox, log  # type: ignore[arg-type]


def test_taking_the_tag_off_a_waiting_request_withdraws_it_and_undoes_its_reservations(
    world: tuple[IntakeService, FakeNetBox, list[str]],
) -> None:
    intake, netbox, log = world
    run_id = intake.take(netbox.get_object("dcim.device", 42), "webhook", submit=False)[0].run_id
    assert run_id is not None
    parked = intake.executor.execute(run_id)
    assert parked is not None and parked.status == "waiting" and log == ["reserve", "look"]
    # Still tagged: a webhook for any other change joins the waiting run and withdraws nothing.
    assert intake.take(netbox.get_object("dcim.device", 42), "webhook", submit=False)[0].run_id == run_id
    assert intake.executor.store.waiting_runs()[0][2] is False
    netbox.tags.discard("sop-coloc")  # the engineer withdraws the request
    [withdrawn] = intake.take(netbox.get_object("dcim.device", 42), "webhook", submit=False)
    assert withdrawn.run_id == run_id and "sop-coloc" in withdrawn.note
    final = intake.executor.execute(run_id)
    assert final is not None and final.status == "failed" and log == ["reserve", "look", "unreserve"]
    assert final.reason is not None and "ditarik" in final.reason


@pytest.mark.parametrize(("trigger", "looks"), [("webhook", 2), ("cli", 2), ("reconciler", 1)])
def test_a_change_to_the_object_makes_a_wait_for_people_look_at_once_but_the_reconcilers_sweep_does_not(
    world: tuple[IntakeService, FakeNetBox, list[str]], trigger: str, looks: int
) -> None:
    intake, netbox, log = world
    run_id = intake.take(netbox.get_object("dcim.device", 42), "webhook", submit=False)[0].run_id
    assert run_id is not None and intake.executor.execute(run_id) is not None and log.count("look") == 1
    intake.take(netbox.get_object("dcim.device", 42), trigger, submit=False)  # e.g. the technician's record
    again = intake.executor.execute(run_id)  # the same clock: only a woken wait is due
    assert again is not None and again.status == "waiting" and log.count("look") == looks


def test_a_request_withdrawn_while_its_run_is_at_work_is_stopped_at_the_next_step_and_undone(
    world: tuple[IntakeService, FakeNetBox, list[str]],
) -> None:
    """Not only a waiting run: the tag taken off while the run reserves (queued or running) stops it at its next
    step boundary; nothing later asks again, and a technician's record days later must not finish it."""
    intake, netbox, log = world
    run_id = intake.take(netbox.get_object("dcim.device", 42), "webhook", submit=False)[0].run_id
    assert run_id is not None and intake.executor.store.get_run(run_id).status == "queued"  # type: ignore[union-attr]
    netbox.tags.discard("sop-coloc")
    [withdrawn] = intake.take(netbox.get_object("dcim.device", 42), "webhook", submit=False)
    assert withdrawn.run_id == run_id
    final = intake.executor.execute(run_id)
    assert final is not None and final.status == "failed" and "look" not in log
