"""Gateways on the layer-3 device (issue 31 item 2): a colocation's VLAN must have one, on the router NetBox names;
a new connection's gateway is configured on the site's router, read back, saved, recorded in NetBox, and undone only
when the run created it. The real OVS driver runs over the fake CLI (ovs-vsctl + FRR's vtysh)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.engine.calendar import OfficeCalendar
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.engine.run_meta import RunMeta
from agent.steps import gateway  # noqa: F401  (registers its steps)
from integrations.errors import PermanentError
from integrations.netbox import GatewayRef, PrefixRef, SwitchRef
from integrations.switches.ovs_linux import OvsLinuxDriver
from tests.unit.engine.world import FakeClock
from tests.unit.switches.fakes import FakeOvs
from tests.unit.switches.test_port_undo import OverFake, _device, _services

ROUTER = SwitchRef(id=9, name="tor-btm-01", site="dc-batam", rack_id=1, platform="ovs_linux", host="127.0.0.9",
                   ssh_port=22)  # fmt: skip


@dataclass
class FakeNetBox:
    """The NetBox reads and writes the gateway steps make."""

    gateway: GatewayRef | None = None
    attached: list[tuple[int, int, str]] = field(default_factory=list)
    detached: list[tuple[int, int, str]] = field(default_factory=list)

    def switches(self, roles: list[str]) -> list[SwitchRef]:
        return [ROUTER]

    def prefix_of_vlan(self, vlan_id: int) -> PrefixRef:
        return PrefixRef(id=30, prefix="198.18.30.0/24")

    def prefix_gateway(self, prefix: str) -> GatewayRef | None:
        return self.gateway

    def attach_gateway(self, ip_id: int, device_id: int, interface: str, description: str) -> int:
        self.attached.append((ip_id, device_id, interface))
        return 77

    def detach_gateway(self, ip_id: int, device_id: int, interface: str) -> bool:
        self.detached.append((ip_id, device_id, interface))
        return True


def _ctx(tmp_path: Path, fake: FakeOvs, nb: FakeNetBox, step: str, **extra: Any) -> StepContext:
    svc = _services(OverFake(fake), tmp_path)
    svc.__dict__["netbox"] = nb
    device = {**_device(), "custom_fields": {"dcagent_server_vlan": {"id": 7, "vid": 130}}}
    connection = {"id": 4, "cid": "BTM-INET-0042", "kind": "internet", "status": "planned", "commit_kbps": 20_000,
                  "tenant_id": 3, "tenant": "Dinkes", "site_id": 1, "site": "dc-batam", "termination_a_id": 5,
                  "custom_fields": {}}  # fmt: skip
    return StepContext(run_id="run-31", playbook="new-network", step=step, request=ObjectRef("dcim.device", 42),
                       outputs=extra.get("outputs", {}), services=svc, locks=InProcessLocks(), clock=FakeClock(),
                       params=extra.get("params", {}), meta=RunMeta(calendar=OfficeCalendar()), language="en",
                       approved={"device": device, "connection": connection}, progress=extra.get("progress", {}),
                       checkpoint=extra.get("checkpoint", lambda **_kw: None))  # fmt: skip


def _router(fake: FakeOvs) -> OvsLinuxDriver:
    return OvsLinuxDriver(fake, "tor-btm-01")  # type: ignore[arg-type]


def test_a_vlan_without_a_gateway_in_netbox_is_rejected(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, FakeOvs(["swp1"]), FakeNetBox(gateway=None), "check_gateway")
    result = REGISTRY.get("check_gateway").run(ctx)
    assert result.outcome == "rejected" and "VLAN 130 has no gateway" in result.reasons[0]


def test_a_gateway_netbox_places_on_a_router_must_be_there_up_with_its_address(tmp_path: Path) -> None:
    fake = FakeOvs(["swp1"])
    nb = FakeNetBox(gateway=GatewayRef(ip_id=5, address="198.18.30.1/24", device_id=9, device="tor-btm-01",
                                       interface="vlan130"))  # fmt: skip
    missing = REGISTRY.get("check_gateway").run(_ctx(tmp_path, fake, nb, "check_gateway"))
    assert missing.outcome == "rejected" and "tor-btm-01 holds -" in missing.reasons[0], missing.reasons
    _router(fake).ensure_gateway(130, "198.18.30.9/24", "elsewhere")
    wrong = REGISTRY.get("check_gateway").run(_ctx(tmp_path, fake, nb, "check_gateway"))
    assert wrong.outcome == "rejected" and "198.18.30.9/24" in wrong.reasons[0], wrong.reasons
    _router(fake).remove_gateway(130)
    _router(fake).ensure_gateway(130, "198.18.30.1/24", "gw")
    ok = REGISTRY.get("check_gateway").run(_ctx(tmp_path, fake, nb, "check_gateway"))
    assert ok.outcome == "ok" and ok.output["gateway"] == "198.18.30.1/24"


def test_a_gateway_on_no_device_is_taken_as_recorded(tmp_path: Path) -> None:
    fake = FakeOvs(["swp1"])
    nb = FakeNetBox(gateway=GatewayRef(ip_id=5, address="127.10.0.1/24"))
    assert REGISTRY.get("check_gateway").run(_ctx(tmp_path, fake, nb, "check_gateway")).outcome == "ok"
    assert fake.sent == []  # no device to ask


NEW = {"allocate_vlan": {"vid": 2345, "vlan_id": 3}, "reserve_gateway": {"ip_id": 88, "address": "198.19.130.1/27"}}


def test_a_connection_gateway_is_configured_saved_recorded_and_undone(tmp_path: Path) -> None:
    fake, nb, recorded = FakeOvs(["swp1"]), FakeNetBox(), dict[str, Any]()
    ctx = _ctx(tmp_path, fake, nb, "configure_gateway", outputs=NEW, params={"router": "tor-btm-01"},
               checkpoint=lambda **kw: recorded.update(kw))  # fmt: skip
    done = REGISTRY.get("configure_gateway").run(ctx)
    assert done.outcome == "ok" and done.output["created"] is True and done.output["interface"] == "vlan2345"
    assert recorded == {"created": True, "router_id": 9, "vid": 2345, "ip_id": 88}
    state = _router(fake).get_gateway(2345)
    assert state is not None and (state.address, state.enabled) == ("198.19.130.1/27", True)
    assert fake.frr.saves >= 1 and nb.attached == [(88, 9, "vlan2345")]
    # A re-run (the agent died after the change) finds its own gateway by its checkpoint: changes nothing, and
    # still owns it, so undo removes it.
    again = REGISTRY.get("configure_gateway").run(_ctx(tmp_path, fake, nb, "configure_gateway", outputs=NEW,
                                                       progress=recorded, params={"router": "tor-btm-01"}))  # fmt: skip
    assert again.output["created"] is True and _router(fake).get_gateway(2345) == state
    REGISTRY.get("configure_gateway").run_undo(ctx, done.output)
    assert _router(fake).get_gateway(2345) is None and nb.detached == [(88, 9, "vlan2345")]


def test_undo_keeps_a_gateway_that_was_there_before_the_run(tmp_path: Path) -> None:
    fake, nb = FakeOvs(["swp1"]), FakeNetBox()
    _router(fake).ensure_gateway(2345, "198.19.130.1/27", "another connection's")
    ctx = _ctx(tmp_path, fake, nb, "configure_gateway", outputs=NEW, params={"router": "tor-btm-01"})
    done = REGISTRY.get("configure_gateway").run(ctx)
    assert done.output["created"] is False
    REGISTRY.get("configure_gateway").run_undo(ctx, done.output)
    assert _router(fake).get_gateway(2345) is not None and nb.detached == []


def test_a_run_that_failed_after_creating_the_gateway_removes_it_from_its_checkpoint(tmp_path: Path) -> None:
    fake, nb = FakeOvs(["swp1"]), FakeNetBox()
    ctx = _ctx(tmp_path, fake, nb, "configure_gateway", outputs=NEW, params={"router": "tor-btm-01"})
    REGISTRY.get("configure_gateway").run(ctx)
    checkpoint = {"created": True, "router_id": 9, "vid": 2345, "ip_id": 88}  # no output: the step died after
    REGISTRY.get("configure_gateway").run_undo(ctx, checkpoint)
    assert _router(fake).get_gateway(2345) is None and nb.detached == [(88, 9, "vlan2345")]


def test_a_router_holding_another_address_for_the_vlan_is_refused_and_left_alone(tmp_path: Path) -> None:
    fake, nb = FakeOvs(["swp1"]), FakeNetBox()
    _router(fake).ensure_gateway(2345, "198.19.131.1/27", "someone's")
    ctx = _ctx(tmp_path, fake, nb, "configure_gateway", outputs=NEW, params={"router": "tor-btm-01"})
    with pytest.raises(PermanentError, match=re.escape("198.19.131.1/27")):
        REGISTRY.get("configure_gateway").run(ctx)
    state = _router(fake).get_gateway(2345)
    assert state is not None and state.address == "198.19.131.1/27" and nb.attached == []


def test_an_svi_there_without_an_address_gets_it_and_loses_it_again_on_undo(tmp_path: Path) -> None:
    fake, nb = FakeOvs(["swp1"]), FakeNetBox()
    router = _router(fake)
    router.ensure_gateway(2345, "198.19.130.1/27", "empty")
    fake.frr.interfaces["vlan2345"].addresses.clear()  # someone took the address off; the SVI stays
    ctx = _ctx(tmp_path, fake, nb, "configure_gateway", outputs=NEW, params={"router": "tor-btm-01"})
    done = REGISTRY.get("configure_gateway").run(ctx)
    assert done.output["created"] is True
    REGISTRY.get("configure_gateway").run_undo(ctx, done.output)
    assert _router(fake).get_gateway(2345) is None
