"""Undo puts a switch port back as it was before the run, its administrative state included (issue 30 #4): the
colocation's port step and the new connection's port step, each undone through the real drivers over a fake CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from agent.config.settings import load_settings
from agent.engine.calendar import OfficeCalendar
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.engine.run_meta import RunMeta
from agent.steps import connection, switchport  # noqa: F401  (register their steps)
from agent.steps.services import Services
from integrations.netbox import DeviceSpec
from integrations.ssh import SSHCredentials
from integrations.switches.base import DriverFactory, PortState, SwitchDriver
from integrations.switches.ovs_linux import OvsLinuxDriver
from tests.unit.engine.world import FakeClock
from tests.unit.switches.fakes import FakeIos, FakeOvs

SWITCH_REF = {"id": 5, "name": "tor-btm-01", "site": "dc-batam", "rack_id": 1, "platform": "ovs_linux",
              "host": "127.0.0.9", "ssh_port": 22}  # fmt: skip


@dataclass
class OverFake:
    """A driver class opened over the fake CLI instead of SSH (what ``Services.switch_drivers`` holds)."""

    fake: Any
    cls: Any = OvsLinuxDriver
    platform: str = "ovs_linux"

    def __call__(self, session: Any, name: str) -> SwitchDriver:
        return self.cls(session, name)  # type: ignore[no-any-return]

    def open(self, host: str, port: int, creds: SSHCredentials, name: str) -> SwitchDriver:
        return self.cls(self.fake, name)  # type: ignore[no-any-return]


def _services(factory: DriverFactory, tmp_path: Any) -> Services:
    known = tmp_path / "known_hosts"
    known.write_text("")
    environ = {"DCAGENT_NETBOX__URL": "http://nb", "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": "http://z",
               "DCAGENT_ZABBIX__TOKEN": "z", "DCAGENT_SWITCH_SSH__USERNAME": "dcagent",
               "DCAGENT_SWITCH_SSH__PASSWORD": "pw", "DCAGENT_SWITCH_SSH__KNOWN_HOSTS": str(known)}  # fmt: skip
    svc = Services(load_settings(None, environ=environ))
    svc.switch_drivers = {factory.platform: factory}
    return svc


def _device() -> dict[str, Any]:
    return DeviceSpec(
        id=42, name="srv-disdik-09", site_id=1, site="dc-batam", rack_id=1, position=10, face="front",
        status="planned", u_height=1, full_depth=True, psu_draw_w=(350.0,), data_interfaces=("eth0",), tenant_id=3,
        tenant="Disdik", role="server", platform="linux", serial="SN1", asset_tag=None, device_type="R650",
        manufacturer="Dell", primary_ip=None, custom_fields={"dcagent_server_vlan": {"id": 7, "vid": 110}},
    ).model_dump(mode="json")  # fmt: skip


def _ctx(svc: Services, step: str, outputs: dict[str, Any]) -> StepContext:
    return StepContext(run_id="run-4", playbook="colocation", step=step, request=ObjectRef("dcim.device", 42),
                       outputs=outputs, services=svc, locks=InProcessLocks(), clock=FakeClock(), params={},
                       meta=RunMeta(calendar=OfficeCalendar()), language="en",
                       approved={"device": _device()})  # fmt: skip


@pytest.mark.parametrize("vlan", [None, 130])
def test_undoing_the_colocation_port_leaves_a_port_that_was_down_down(tmp_path: Any, vlan: int | None) -> None:
    fake = FakeOvs(["swp4", "swp5"])
    fake.port("swp4").shutdown, fake.port("swp4").vlan = True, vlan
    fake.port("swp4").mode = "access" if vlan else None
    svc = _services(OverFake(fake), tmp_path)
    cabled = {"switch_id": 5, "switch_ref": SWITCH_REF, "switch": "tor-btm-01", "port": "swp4"}
    done = REGISTRY.get("configure_switch_port").run(_ctx(svc, "configure_switch_port", {"cable_switch_port": cabled}))
    assert done.outcome == "ok" and not fake.port("swp4").shutdown
    undo_ctx = _ctx(svc, "configure_switch_port", {"cable_switch_port": cabled})
    REGISTRY.get("configure_switch_port").run_undo(undo_ctx, done.output)
    port = fake.port("swp4")
    assert (port.shutdown, port.vlan, port.description) == (True, vlan, "")


@pytest.mark.parametrize("eos", [False, True])
def test_undoing_a_connection_port_leaves_a_port_that_was_down_down(tmp_path: Any, eos: bool) -> None:
    from integrations.switches.arista_eos import AristaEosDriver
    from integrations.switches.cisco_ios import CiscoIosDriver

    names = ["Ethernet4", "Ethernet48"] if eos else ["Gi1/0/4", "Gi1/0/48"]
    fake = FakeIos(names, eos=eos)
    fake.port(names[0]).shutdown = True
    fake.port(names[1]).mode, fake.port(names[1]).trunk = "trunk", [100]
    factory = OverFake(fake, AristaEosDriver if eos else CiscoIosDriver, "arista_eos" if eos else "cisco_ios")
    svc = _services(factory, tmp_path)
    driver = factory.open("h", 22, SSHCredentials(username="u", known_hosts=tmp_path, password="p"), "sw")
    before = {"port": driver.get_port(names[0]).model_dump(), "uplink": driver.get_port(names[1]).model_dump(),
              "vlan": None, "rate_kbps": None}  # fmt: skip
    driver.ensure_vlan(120, "disdik")
    driver.configure_access_port(names[0], 120, "BTM-INET-0009 disdik", enabled=True)
    driver.allow_on_trunk(names[1], 120)
    driver.set_rate_limit(names[0], 20_000)
    cabled = {"switch_id": 5, "switch_ref": {**SWITCH_REF, "platform": factory.platform}}
    output = {"port": names[0], "uplink": names[1], "vid": 120, "before": before}
    undo_ctx = _ctx(svc, "configure_connection_port", {"cable_connection": cabled})
    REGISTRY.get("configure_connection_port").run_undo(undo_ctx, output)
    port = driver.get_port(names[0])
    assert (port.enabled, port.access_vlan, port.description) == (False, None, "")
    assert driver.get_rate_limit(names[0]) is None and driver.get_vlan(120) is None
    assert driver.get_port(names[1]).trunk_vlans == (100,)
    assert PortState.model_validate(before["port"]).enabled is False
