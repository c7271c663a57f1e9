"""The DNS steps against a zone that behaves as BIND does (issue 30 #7 and #14): a name holding any record is
rejected at once, and names are compared whatever their case (BIND keeps the case a name was written with)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import responses

from agent.config.settings import load_settings
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.steps import capacity, dns, verify, withdrawal  # noqa: F401  (register their steps)
from agent.steps.services import Services
from integrations.dns import canonical_name
from integrations.errors import PermanentError, TransientError
from integrations.netbox import NetBoxClient
from tests.unit.engine.world import FakeClock
from tests.unit.test_rack_choice import FakeNetBox  # the capacity check's reads

URL = "http://netbox.test"
RECORDED = Path(__file__).parent / "recorded" / "netbox" / "site-batam" / "graphql.json"
ENV = {"DCAGENT_NETBOX__URL": URL, "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": "http://z",
       "DCAGENT_ZABBIX__TOKEN": "z", "DCAGENT_DNS__SERVER": "127.0.0.1", "DCAGENT_DNS__ZONE": "dc.lab",
       "DCAGENT_DNS__TSIG_KEY_NAME": "k", "DCAGENT_DNS__TSIG_SECRET": "c2VjcmV0",
       "DCAGENT_DNS__REVERSE_ZONES": "10.127.in-addr.arpa"}  # fmt: skip
IP, PTR = "127.10.0.5", "5.0.10.127.in-addr.arpa."


@dataclass
class FakeZone:
    """What the DNS client reaches, as BIND answers: owner names match whatever their case, values keep the case
    they were written with, and an A added beside a CNAME is ignored with NOERROR."""

    records_: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    updates: list[str] = field(default_factory=list)

    def lookup(self, name: str, rdtype: str) -> list[str]:
        return sorted(self.records_.get((canonical_name(name), rdtype), []))

    def records(self, name: str) -> dict[str, list[str]]:
        return {t: sorted(v) for (n, t), v in sorted(self.records_.items()) if n == canonical_name(name) and v}

    def replace_record(self, zone: str, name: str, rdtype: str, value: str, ttl: int = 300) -> None:
        self.updates.append(f"replace {name} {rdtype}")
        if rdtype != "CNAME" and self.records_.get((canonical_name(name), "CNAME")):
            return  # BIND: "attempt to add non-CNAME alongside CNAME ignored", NOERROR
        self.records_[(canonical_name(name), rdtype)] = [value]

    def delete_record(self, zone: str, name: str, rdtype: str) -> None:
        self.updates.append(f"delete {name} {rdtype}")
        self.records_.pop((canonical_name(name), rdtype), None)


def _ctx(zone: FakeZone, step: str, fqdn: str, outputs: dict[str, Any] | None = None, netbox: Any = None,
         params: dict[str, Any] | None = None) -> StepContext:  # fmt: skip
    svc = Services(load_settings(None, environ=ENV))
    svc.__dict__.update(dns=zone, netbox=netbox, zabbix=FakeZabbix())
    device = {"id": 7, "name": "srv-disdik-09", "site_id": 1, "site": "dc-batam", "rack_id": 1,
              "position": None, "face": None, "status": "planned", "u_height": 2, "full_depth": True,
              "psu_draw_w": [350, 350], "psu_ids": [71, 72], "data_interfaces": ["eno1"], "tenant_id": 3,
              "tenant": "disdik", "role": "server", "platform": "linux", "serial": "SN1", "asset_tag": None,
              "device_type": "r650", "manufacturer": "Dell", "primary_ip": f"{IP}/24",
              "custom_fields": {"dcagent_fqdn": fqdn, "dcagent_server_vlan": {"id": 5},
                                "dcagent_bandwidth_mbps": 10}}  # fmt: skip
    return StepContext(run_id="run-7", playbook="colocation", step=step, request=ObjectRef("dcim.device", 7),
                       outputs=outputs or {}, services=svc, locks=InProcessLocks(), clock=FakeClock(),
                       params=params or {}, language="en", approved={"device": device})  # fmt: skip


class FakeZabbix:
    def host_by_tag(self, tag: str, value: str) -> None:
        return None


# -- #7: a name that exists in DNS, whatever its record type --------------------------------------------------------
@pytest.mark.parametrize("kind", ["CNAME", "TXT", "MX"])
def test_publishing_a_name_that_holds_any_record_is_rejected_at_once_without_an_update(kind: str) -> None:
    value = {"CNAME": "web.example.org.", "TXT": '"owner disdik"', "MX": "10 mail.dc.lab."}[kind]
    zone = FakeZone({("www.dc.lab.", kind): [value]})
    reserved = {"reserve_ip": {"address": f"{IP}/24", "dns_name": "www.dc.lab"}}
    result = REGISTRY.get("publish_dns").run(_ctx(zone, "publish_dns", "www.dc.lab", reserved))
    assert result.outcome == "rejected"
    assert result.reasons == (f"domain: www.dc.lab already exists in DNS ({kind} {value})",)
    assert zone.updates == []


def test_a_resumed_publish_finds_its_own_address_and_finishes() -> None:
    zone = FakeZone({("srv-disdik-09.dc.lab.", "A"): [IP]})
    reserved = {"reserve_ip": {"address": f"{IP}/24", "dns_name": "srv-disdik-09.dc.lab"}}
    result = REGISTRY.get("publish_dns").run(_ctx(zone, "publish_dns", "srv-disdik-09.dc.lab", reserved))
    assert result.outcome == "ok" and zone.lookup(PTR, "PTR") == ["srv-disdik-09.dc.lab."]


def test_the_capacity_check_rejects_a_name_that_is_an_alias_in_dns() -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{URL}/graphql/", json=json.loads(RECORDED.read_text()))
        site = NetBoxClient(URL, "nbt_x.y", timeout=2).site_capacity(1, ["tor-switch"])
    zone = FakeZone({("www.dc.lab.", "CNAME"): ["web.example.org."]})
    result = REGISTRY.get("check_capacity").run(_ctx(zone, "check_capacity", "www.dc.lab", netbox=FakeNetBox(site)))
    assert result.outcome == "rejected"
    assert "domain: www.dc.lab already exists in DNS (CNAME web.example.org.)" in result.reasons


# -- #14: names compared whatever their case -------------------------------------------------------------------------
def _published(fqdn: str) -> FakeZone:
    """What BIND holds after the colocation published ``fqdn``: the owner matched whatever its case, the PTR's
    target as written."""
    return FakeZone({(canonical_name(fqdn), "A"): [IP], (PTR, "PTR"): [fqdn.rstrip(".") + "."]})


@pytest.mark.parametrize(("published", "netbox"), [("Srv-Disdik-09.dc.lab", "Srv-Disdik-09.dc.lab"),
                                                   ("srv-disdik-09.dc.lab", "Srv-Disdik-09.DC.lab.")])  # fmt: skip
def test_a_withdrawal_removes_the_ptr_of_a_name_with_capitals(published: str, netbox: str) -> None:
    zone = _published(published)
    result = REGISTRY.get("unpublish_dns").run(_ctx(zone, "unpublish_dns", netbox))
    assert result.outcome == "ok" and result.output["removed"] is True
    assert zone.lookup(PTR, "PTR") == [] and zone.lookup(published + ".", "A") == []


def test_undoing_a_colocations_dns_removes_the_ptr_of_a_name_with_capitals() -> None:
    zone = _published("srv-disdik-09.dc.lab")
    REGISTRY.get("publish_dns").run_undo(_ctx(zone, "publish_dns", "Srv-Disdik-09.dc.lab"),
                                         {"fqdn": "Srv-Disdik-09.dc.lab.", "a": IP, "ptr": PTR})  # fmt: skip
    assert zone.records(PTR) == {} and zone.records("srv-disdik-09.dc.lab.") == {}


def test_a_withdrawal_never_calls_a_ptr_removed_that_is_still_served() -> None:
    zone = _published("Srv-Disdik-09.dc.lab")
    zone.records_[(PTR, "PTR")].append("other.dc.lab.")  # a second PTR: the record is not only ours, it stays
    with pytest.raises(TransientError, match=r"PTR of Srv-Disdik-09\.dc\.lab still served"):
        REGISTRY.get("unpublish_dns").run(_ctx(zone, "unpublish_dns", "Srv-Disdik-09.dc.lab"))


class NoSwitch:
    def interface(self, device_id: int, name: str) -> None:
        raise PermanentError("NetBox", "not asked in this test")


def test_a_maintenance_finds_no_ptr_mismatch_in_a_name_with_capitals() -> None:
    zone = _published("srv-disdik-09.dc.lab")
    # on_mismatch "report" (the model's other value; a mismatch goes in the output instead of rejecting)
    result = REGISTRY.get("verify_server").run(_ctx(zone, "verify_server", "Srv-Disdik-09.dc.lab", netbox=NoSwitch(),
                                                    params={"ping": False, "on_mismatch": "report"}))  # fmt: skip
    checks = {c["what"]: c["ok"] for c in result.output["checks"]}
    assert checks[f"DNS PTR {IP}"] is True and checks["DNS A Srv-Disdik-09.dc.lab"] is True
    zone.records_[(PTR, "PTR")] = ["other.dc.lab."]
    again = REGISTRY.get("verify_server").run(_ctx(zone, "verify_server", "Srv-Disdik-09.dc.lab", netbox=NoSwitch(),
                                                   params={"ping": False, "on_mismatch": "report"}))  # fmt: skip
    assert {c["what"]: c["ok"] for c in again.output["checks"]}[f"DNS PTR {IP}"] is False
