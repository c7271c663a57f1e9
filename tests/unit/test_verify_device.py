"""Issue 30 #8: no "done" without a final look. An edit colliding with placement left the device with no rack
position, yet the run ended done and the Berita Acara said U1. Each step that leaves something on the device declares
it (``device_after``); ``verify_device`` reads the device back in one NetBox request before the report and fails the
run (so it is undone) when NetBox holds otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

import agent.steps  # noqa: F401  (registers every step)
from agent.config.settings import load_settings
from agent.engine.errors import StepInputError
from agent.engine.locks import InProcessLocks
from agent.engine.playbook import load_playbooks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.steps import withdrawal  # noqa: F401  (registers its steps)
from agent.steps.services import Services
from agent.steps.verify import device_after, expected_device
from integrations.netbox import DeviceSpec, RequestObject
from tests.unit.engine.world import FakeClock

ROOT = Path(__file__).resolve().parents[2]
ENV = {"DCAGENT_NETBOX__URL": "http://netbox.test", "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": "http://z",
       "DCAGENT_ZABBIX__TOKEN": "z"}  # fmt: skip
DEVICE: dict[str, Any] = {
    "id": 7, "name": "srv-disdik-09", "site_id": 1, "site": "dc-batam", "rack_id": None, "position": None,
    "face": None, "status": "planned", "u_height": 2, "full_depth": True, "psu_draw_w": [350, 350],
    "data_interfaces": ["eno1"], "tenant_id": 3, "tenant": "disdik", "role": "server", "platform": "linux",
    "serial": "SN1", "asset_tag": None, "device_type": "r650", "manufacturer": "Dell", "primary_ip": None,
    "custom_fields": {},
}  # fmt: skip
OBJECT = {"object_type": "dcim.device", "id": 7, "name": "srv-disdik-09", "status": "planned", "tags": [],
          "custom_fields": {}, "tenant": "disdik", "site": "dc-batam"}  # fmt: skip
# What a colocation's steps wrote, as their outputs declare it (placement: R01 U1 front; the address; active).
WROTE = {
    "place_device": {"rack": "R01", "rack_id": 1, "position": 1, **device_after(rack_id=1, position=1, face="front")},
    "assign_ip": {"address": "127.10.0.20/24", **device_after(primary_ip="127.10.0.20/24")},
    "activate_device": {"status": "active", **device_after(status="active")},
}


@dataclass
class FakeNetBox:
    now: DeviceSpec
    calls: list[str] = field(default_factory=list)

    def device_spec(self, device_id: int, known: RequestObject | None = None) -> DeviceSpec:
        self.calls.append(f"device_spec {device_id} known={known is not None}")
        return self.now


def _ctx(nb: FakeNetBox, outputs: dict[str, Any], language: str = "id") -> StepContext:
    svc = Services(load_settings(None, environ=ENV))
    svc.__dict__["netbox"] = nb
    return StepContext(run_id="run-7", playbook="colocation", step="verify_device", request=ObjectRef("dcim.device", 7),
                       outputs=outputs, services=svc, locks=InProcessLocks(), clock=FakeClock(),
                       language=language,  # type: ignore[arg-type]
                       approved={"device": DEVICE, "object": OBJECT})  # fmt: skip


def _holds(**fields: Any) -> DeviceSpec:
    return DeviceSpec.model_validate({**DEVICE, **fields})


def test_netbox_holding_what_the_run_wrote_passes_on_one_read() -> None:
    nb = FakeNetBox(_holds(rack_id=1, position=1.0, face="front", status="active", primary_ip="127.10.0.20/24"))
    result = REGISTRY.get("verify_device").run(_ctx(nb, WROTE))
    assert result.outcome == "ok"
    assert result.output["verified"] == {"rack_id": 1, "position": 1, "face": "front",
                                         "primary_ip": "127.10.0.20/24", "status": "active"}  # fmt: skip
    assert nb.calls == ["device_spec 7 known=True"]  # one GraphQL read: the custom fields are the approved ones


def test_a_device_that_lost_its_rack_position_fails_the_run_naming_what_differs() -> None:
    nb = FakeNetBox(_holds(rack_id=1, position=None, face=None, status="active", primary_ip="127.10.0.20/24"))
    with pytest.raises(StepInputError) as e:
        REGISTRY.get("verify_device").run(_ctx(nb, WROTE))
    assert str(e.value) == (
        "pemeriksaan akhir: data srv-disdik-09 di NetBox berbeda dari yang ditulis run ini "
        "(posisi: ditulis 1, tercatat di NetBox -; sisi: ditulis front, tercatat di NetBox -)"
    )
    placed = FakeNetBox(_holds(rack_id=1, position=1.0, face="front", status="active"))
    with pytest.raises(StepInputError, match=r"primary IP: wrote 127\.10\.0\.20/24, NetBox holds -"):
        REGISTRY.get("verify_device").run(_ctx(placed, WROTE, "en"))


def test_later_steps_declarations_win_and_a_withdrawn_device_must_be_out_of_its_rack() -> None:
    outputs = {"release_addresses": device_after(primary_ip=None),
               "unrack_device": device_after(rack_id=None, position=None, status="offline")}  # fmt: skip
    assert expected_device({**WROTE, **outputs}) == {"rack_id": None, "position": None, "face": "front",
                                                     "primary_ip": None, "status": "offline"}  # fmt: skip
    still_racked = FakeNetBox(_holds(rack_id=1, position=1.0, status="offline"))
    with pytest.raises(StepInputError, match="rack: wrote -, NetBox holds 1"):
        REGISTRY.get("verify_device").run(_ctx(still_racked, outputs, "en"))
    assert REGISTRY.get("verify_device").run(_ctx(FakeNetBox(_holds(status="offline")), outputs)).outcome == "ok"


WRITERS = {"place_device", "assign_ip", "activate_device", "release_addresses", "unrack_device", "end_maintenance"}
# Not the handover form: Central Java writes it at the server's receipt (SOP 004.7, right after await_delivery), with
# what the technician checked, not what the steps wrote (tests/unit/test_handover.py).
REPORTS = {"work_report", "withdrawal_form", "notify_withdrawal", "maintenance_report"}


# The maintenance's last write (end_maintenance) reads the status back itself: a final look after it would undo a
# maintenance that has happened.
@pytest.mark.parametrize("name", ["colocation", "colocation-sumbawa", "colocation-jateng", "withdrawal"])
def test_every_playbook_that_writes_the_device_reads_it_back_before_its_report(name: str) -> None:
    steps = [r.step for r in load_playbooks(ROOT / "playbooks")[name].steps]
    assert "verify_device" in steps, steps
    at = steps.index("verify_device")
    assert max(i for i, s in enumerate(steps) if s in WRITERS) < at, steps
    assert all(steps.index(r) > at for r in REPORTS if r in steps), steps


@dataclass
class WithdrawnNetBox(FakeNetBox):
    """A device being withdrawn: its addresses released, then taken out of its rack."""

    ips: list[Any] = field(default_factory=list)

    def device_ips(self, device_id: int) -> list[Any]:
        return self.ips

    def update_device(self, device_id: int, fields: dict[str, Any]) -> None:
        changes: dict[str, Any] = {"status": fields["status"]} if "status" in fields else {}
        if "rack" in fields:
            changes |= {"rack_id": fields["rack"], "position": fields.get("position")}
        if "primary_ip4" in fields:
            changes["primary_ip"] = None
        self.now = self.now.model_copy(update=changes)

    def delete_ip(self, ip_id: int) -> None:
        self.ips = []


def test_the_withdrawal_steps_declare_what_they_leave_and_the_final_look_passes() -> None:
    nb = WithdrawnNetBox(_holds(rack_id=1, position=1.0, face="front", status="active"))
    ctx = _ctx(nb, {})
    released = REGISTRY.get("release_addresses").run(ctx)
    unracked = REGISTRY.get("unrack_device").run(replace(ctx, params={"status": "offline"}))
    outputs = {"release_addresses": released.output, "unrack_device": unracked.output}
    assert expected_device(outputs) == {"primary_ip": None, "rack_id": None, "position": None, "status": "offline"}
    assert REGISTRY.get("verify_device").run(_ctx(nb, outputs)).outcome == "ok"
