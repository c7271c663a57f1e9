"""The agency is asked to ship its server configured as the run reserved it (issue 31): name, address and mask,
gateway, VLAN, where it goes; mailed to its contacts and journalled; once, whatever the restarts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.config.settings import load_settings
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.steps import shipping  # noqa: F401  (registers its steps)
from agent.steps.services import Services
from integrations.netbox import GatewayRef, JournalEntry
from tests.unit.engine.world import FakeClock
from tests.unit.switches.test_port_undo import _device
from tests.unit.test_notices import Relay

ENV = {"DCAGENT_NETBOX__URL": "http://nb", "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": "http://z",
       "DCAGENT_ZABBIX__TOKEN": "z"}  # fmt: skip
OUTPUTS = {
    "reserve_ip": {"address": "198.18.30.7/24"}, "assign_ip": {"address": "198.18.30.7/24"},
    "publish_dns": {"fqdn": "simpeg.dc.lab"}, "place_device": {"rack": "R01", "position": 20},
    "cable_switch_port": {"switch": "tor-btm-01", "port": "swp4"},
}  # fmt: skip


@dataclass
class FakeNetBox:
    entries: list[str] = field(default_factory=list)

    def prefix_gateway(self, prefix: str) -> GatewayRef | None:
        assert prefix == "198.18.30.0/24"
        return GatewayRef(ip_id=5, address="198.18.30.1/24", device_id=9, device="tor-btm-01", interface="vlan130")

    def contact_emails(self, object_type: str, object_id: int, role: str) -> list[tuple[str, str]]:
        return [("Sari", "sari@opd.lab")]

    def journal(self, object_type: str, object_id: int) -> list[JournalEntry]:
        return [JournalEntry(id=i, kind="info", comments=c) for i, c in enumerate(self.entries)]

    def add_journal(self, object_type: str, object_id: int, kind: str, comments: str) -> JournalEntry:
        self.entries.append(comments)
        return JournalEntry(id=len(self.entries), kind=kind, comments=comments)


def _run(nb: FakeNetBox, relay: Relay, progress: dict[str, Any]) -> Any:
    svc = Services(load_settings(None, environ=ENV))
    svc.__dict__["netbox"], svc.__dict__["mailer"] = nb, relay
    device = {**_device(), "custom_fields": {"dcagent_server_vlan": {"id": 7, "vid": 130}}}
    ctx = StepContext(run_id="run-9", playbook="colocation", step="ship_request", request=ObjectRef("dcim.device", 42),
                      outputs=OUTPUTS, services=svc, locks=InProcessLocks(), clock=FakeClock(), language="en",
                      approved={"device": device}, progress=dict(progress), checkpoint=progress.update)  # fmt: skip
    return REGISTRY.get("ship_request").run(ctx)


def test_the_agency_gets_what_its_server_must_carry_once() -> None:
    nb, relay, progress = FakeNetBox(), Relay(), dict[str, Any]()
    done = _run(nb, relay, progress)
    assert done.outcome == "ok" and done.output["sent"] is True
    [notice] = relay.sent
    assert notice.to == ("sari@opd.lab",)
    for expected in ("simpeg.dc.lab", "198.18.30.7/24", "255.255.255.0", "gateway: 198.18.30.1", "VLAN: 130",
                     "R01 U20", "tor-btm-01 swp4"):  # fmt: skip
        assert expected in notice.body, expected
    assert len(nb.entries) == 1 and "sari@opd.lab" in nb.entries[0]  # to whom: the values are in the output
    assert done.output["address"] == "198.18.30.7" and done.output["gateway"] == "198.18.30.1"
    again = _run(nb, relay, progress)  # a restart after the mail: neither sent nor journalled twice
    assert again.output["sent"] is True and len(relay.sent) == 1 and len(nb.entries) == 1


def test_the_gateway_check_gateway_read_is_used_without_asking_netbox_again() -> None:
    class Counting(FakeNetBox):
        def prefix_gateway(self, prefix: str) -> GatewayRef | None:
            raise AssertionError("read again")

    OUTPUTS["check_gateway"] = {"gateway": "198.18.30.1/24", "prefix": "198.18.30.0/24"}
    try:
        done = _run(Counting(), Relay(), {})
    finally:
        del OUTPUTS["check_gateway"]
    assert done.output["gateway"] == "198.18.30.1"
