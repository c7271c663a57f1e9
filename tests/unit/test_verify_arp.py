"""The gateway's ARP in a verification finding (issue 31: the finding names "the gateway's ARP"): read from the device
holding the VLAN's gateway (the cabled switch itself, or another one NetBox knows), the server's reserved address
looked up in it, and a finding that never fails because that read did. The step is run as in test_verify_retry, its
fakes at the same seams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integrations.errors import PermanentError
from integrations.switches.base import MacEntry, Neighbor
from tests.unit.test_verify_retry import OUTPUTS, SERVER, Step, Switch, _step

ADDRESS = "198.18.10.12"
COLOCATION = {**OUTPUTS, "check_gateway": {"vid": 110, "gateway": "198.18.10.1/24", "device": "tor-btm-01"},
              "reserve_ip": {"ip_id": 31, "address": f"{ADDRESS}/24"}}  # fmt: skip


class Broken(Switch):
    """A switch whose neighbour table read fails outright."""

    def gateway_neighbors(self, vid: int) -> list[Neighbor] | None:
        raise PermanentError("switch tor-btm-01", "show ip arp: % Invalid input detected at '^' marker.")


def _run(tmp_path: Path, switch: Switch, outputs: dict[str, Any] | None = None, lang: str = "en") -> tuple[Step, str]:
    step = _step(tmp_path, switch, language=lang)
    step.outputs = dict(outputs or COLOCATION)
    assert step.run().outcome == "waiting"
    [(_, text)] = step.netbox.entries
    return step, text


def test_a_server_on_its_port_that_does_not_answer_the_gateways_arp_has_another_address(tmp_path: Path) -> None:
    switch = Switch({"swp3": (True, True)}, [MacEntry(mac=SERVER, vlan=110, port="swp3")],
                    neighbors=[Neighbor(ip=ADDRESS, mac=None, state="unresolved")])  # fmt: skip
    step, text = _run(tmp_path, switch, lang="id")
    assert switch.asked == [110] and step.driver.opened == 2  # the port's session, then the gateway's
    assert "- ARP gateway di tor-btm-01: 198.18.10.12 tidak terjawab (INCOMPLETE/FAILED)" in text
    assert "tidak menjawab ARP gateway untuk 198.18.10.12: alamatnya bukan 198.18.10.12" in text
    assert step.progress["conclusion"] == "arp_unanswered"
    assert step.progress["finding"]["arp"] == [{"ip": ADDRESS, "mac": None, "state": "unresolved"}]


def test_the_gateway_on_another_device_is_read_there_and_names_the_port_the_address_answers_from(
    tmp_path: Path,
) -> None:
    other = "52:54:00:aa:bb:07"
    switch = Switch({"swp3": (True, False), "swp7": (True, True)}, [MacEntry(mac=other, vlan=110, port="swp7")])
    router = Switch({}, neighbors=[Neighbor(ip=ADDRESS, mac=other, state="resolved"),
                                   Neighbor(ip="198.18.10.20", mac=None, state="unresolved")])  # fmt: skip
    outputs = {**COLOCATION, "check_gateway": {**COLOCATION["check_gateway"], "device": "core-btm-01"}}
    step = _step(tmp_path, switch)
    step.driver.others["core-btm-01"] = router
    step.outputs = outputs
    assert step.run().outcome == "waiting"
    text = step.netbox.entries[0][1]
    assert router.asked == [110] and switch.asked == []
    assert f"- Gateway ARP on core-btm-01: {ADDRESS} resolves to {other} (learned on swp7)." in text
    assert f"Conclusion: the gateway resolves the server's address {ADDRESS} to {other}, learned on port swp7" in text


def test_a_table_the_switch_does_not_show_is_not_available_and_the_finding_goes_on(tmp_path: Path) -> None:
    switch = Switch({"swp3": (True, True)}, [MacEntry(mac=SERVER, vlan=110, port="swp3")], neighbors=None)
    step, text = _run(tmp_path, switch)
    said = "- Gateway ARP on tor-btm-01: not available (the switch does not show its ARP table to dcagent's session)."
    assert said in text and step.progress["conclusion"] == "layer2_only"


def test_a_neighbour_read_that_fails_never_fails_the_finding(tmp_path: Path) -> None:
    switch = Broken({"swp3": (True, False)})
    step, text = _run(tmp_path, switch)
    assert "- Gateway ARP on tor-btm-01: not available (switch tor-btm-01: show ip arp: % Invalid input" in text
    assert step.progress["conclusion"] == "no_mac"


def test_a_gateway_netbox_places_on_no_device_is_said_so(tmp_path: Path) -> None:
    outputs = {**COLOCATION, "check_gateway": {**COLOCATION["check_gateway"], "device": None}}
    switch = Switch({"swp3": (True, False)})
    step, text = _run(tmp_path, switch, outputs)
    assert "- Gateway ARP on -: not available (NetBox places the VLAN's gateway on no device)." in text
    assert switch.asked == [] and step.driver.opened == 1


def test_an_unreadable_switch_holding_the_gateway_is_not_asked_twice(tmp_path: Path) -> None:
    from integrations.errors import TransientError

    step = _step(tmp_path)
    step.outputs = dict(COLOCATION)
    step.driver.refused = TransientError("switch tor-btm-01", "SSH connection refused")
    assert step.run().outcome == "waiting" and step.driver.opened == 1
    assert "Gateway ARP" not in step.netbox.entries[0][1]


def test_a_new_connection_lists_its_gateways_entries(tmp_path: Path) -> None:
    """No server address of its own (the connection's gateway is what Zabbix pings): every entry is listed."""
    outputs = {**OUTPUTS, "configure_gateway": {"router": "tor-btm-01", "router_id": 5, "vid": 110}}
    switch = Switch({"swp3": (True, True)}, neighbors=[Neighbor(ip="198.18.10.2", mac=SERVER, state="resolved")])
    step, text = _run(tmp_path, switch, outputs)
    assert f"- Gateway ARP on tor-btm-01 in VLAN 110: 198.18.10.2 {SERVER}." in text
    assert step.progress["conclusion"] == "silent"


def test_a_gateway_named_only_is_looked_for_at_the_cabled_switchs_site_and_by_id_when_known() -> None:
    """Device names repeat across sites: another office's "core-btm-01" is not the one that holds this gateway."""
    from types import SimpleNamespace

    from agent.steps.findings import _gateway_switch
    from integrations.netbox import SwitchRef
    from tests.unit.test_verify_retry import ROUTER_REF

    elsewhere = {**ROUTER_REF, "id": 16, "site": "dc-sumbawa", "host": "127.0.0.20"}
    netbox = SimpleNamespace(switches=lambda roles: [SwitchRef.model_validate(r) for r in (elsewhere, ROUTER_REF)])
    svc: Any = SimpleNamespace(netbox=netbox, settings=SimpleNamespace(switch_roles=["tor-switch"]))
    cabled = COLOCATION["cable_switch_port"]
    assert _gateway_switch(svc, cabled, "core-btm-01", None, "en")["switch_id"] == 6  # the site's, not the first
    assert _gateway_switch(svc, cabled, "core-btm-01", 16, "en")["switch_id"] == 16  # an id is the device
