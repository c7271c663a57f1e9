"""What the switch says when Zabbix sees no answer (issue 31 #4): the conclusion is the first rule that applies to
the facts read, each rule tried here on its own; the finding reads the same for people in both languages."""

from __future__ import annotations

import pytest
import responses

from agent.engine.locks import InProcessLocks
from agent.engine.registry import ObjectRef, StepContext
from agent.i18n import catalog
from agent.steps.findings import RULES, PortFinding, cabled_port, conclude, gather, render
from integrations.netbox import NetBoxClient
from integrations.switches.base import MacEntry, Neighbor
from tests.unit.engine.world import FakeClock

SERVER, OTHER = "52:54:00:aa:bb:01", "52:54:00:aa:bb:02"


def finding(**facts: object) -> PortFinding:
    base: dict[str, object] = {"switch": "tor-btm-01", "port": "swp3", "vlan": 110, "enabled": True, "link_up": True}
    return PortFinding.model_validate({**base, **facts})


def seen(mac: str, vlan: int, port: str) -> MacEntry:
    return MacEntry(mac=mac, vlan=vlan, port=port)


IP = "198.18.10.12"


def arp(mac: str | None, ip: str = IP) -> Neighbor:
    return Neighbor(ip=ip, mac=mac, state="resolved" if mac else "unresolved")


ON_PORT = {"on_port": (seen(SERVER, 110, "swp3"),), "in_vlan": (seen(SERVER, 110, "swp3"),), "expected_ip": IP}


@pytest.mark.parametrize(("facts", "code"), [
    ({"error": "switch tor-btm-01: SSH connection refused"}, "unreadable"),
    # the server's own MAC (NetBox) learned on another port only: its cable is there, whatever our port says
    ({"link_up": False, "device_macs": (SERVER,), "device_seen": (seen(SERVER, 120, "swp7"),)}, "cable_elsewhere"),
    ({"enabled": False, "link_up": False}, "admin_down"),
    ({"link_up": False}, "no_mac"),
    ({"link_up": None}, "no_mac"),  # a platform that cannot tell the link: no MAC says enough
    ({"link_up": True}, "silent"),
    ({"on_port": (seen(SERVER, 120, "swp3"),)}, "wrong_vlan"),
    ({"on_port": (seen(SERVER, 110, "swp3"),), "in_vlan": (seen(SERVER, 110, "swp3"),)}, "layer2_only"),
    # seen on its own port and on another (a bond, a bridge): not "cable elsewhere"
    ({"on_port": (seen(SERVER, 110, "swp3"),), "device_macs": (SERVER,),
      "device_seen": (seen(SERVER, 110, "swp3"), seen(SERVER, 110, "swp9"))}, "layer2_only"),
    # other servers in the VLAN elsewhere on the switch are no evidence about this one
    ({"link_up": False, "in_vlan": (seen(OTHER, 110, "swp7"),)}, "no_mac"),
    # the gateway's ARP: the server's address answers from a MAC learned on another port only
    ({"link_up": False, "expected_ip": IP, "arp": (arp(OTHER),), "in_vlan": (seen(OTHER, 110, "swp7"),)},
     "ip_elsewhere"),
    ({"enabled": False, "expected_ip": IP, "arp": (arp(OTHER),), "in_vlan": (seen(OTHER, 110, "swp7"),)},
     "ip_elsewhere"),  # its cable is there: shutting this port changes nothing
    ({"link_up": False, "device_macs": (SERVER,), "device_seen": (seen(SERVER, 110, "swp9"),), "expected_ip": IP,
      "arp": (arp(OTHER),), "in_vlan": (seen(OTHER, 110, "swp7"),)}, "cable_elsewhere"),  # NetBox's MAC first
    ({**ON_PORT, "arp": (arp(SERVER),), "in_vlan": (seen(SERVER, 110, "swp3"), seen(SERVER, 110, "swp9"))},
     "arp_answered"),  # learned on its own port too: not "elsewhere"
    ({**ON_PORT, "arp": (arp(OTHER),)}, "ip_conflict"),  # another MAC, learned nowhere here, has its address
    ({**ON_PORT, "arp": (arp(None),)}, "arp_unanswered"),
    ({**ON_PORT, "arp": (arp(SERVER, "198.18.10.13"),)}, "arp_unanswered"),  # no entry for its address
    ({**ON_PORT, "arp": (arp(SERVER),)}, "arp_answered"),
    ({**ON_PORT, "arp_error": "not available"}, "layer2_only"),  # the ARP not read: no conclusion from it
    ({**ON_PORT, "expected_ip": None, "arp": (arp(SERVER),)}, "layer2_only"),  # no address of its own
])  # fmt: skip
def test_the_first_rule_that_applies_concludes(facts: dict[str, object], code: str) -> None:
    assert conclude(finding(**facts)) == code


def test_every_conclusion_has_its_words_in_both_catalogs() -> None:
    keys = [f"finding.conclusion.{rule.code}" for rule in RULES]
    assert [k for k in keys if k not in catalog("id") or k not in catalog("en")] == []
    assert RULES[-1].applies(PortFinding())  # the last rule always applies: there is always a conclusion


def test_a_finding_names_the_port_the_vlan_and_where_each_mac_was_seen() -> None:
    wrong = finding(on_port=(seen(SERVER, 120, "swp3"),), in_vlan=(seen(OTHER, 110, "swp7"),))
    assert render(wrong, "en") == [
        "Port swp3 on tor-btm-01: link up, admin up.",
        "MACs on the port: 52:54:00:aa:bb:01 (VLAN 120).",
        "MACs in VLAN 110 elsewhere on the switch: swp7: 52:54:00:aa:bb:02.",
        "Conclusion: MAC 52:54:00:aa:bb:01 seen on port swp3 in VLAN 120, not VLAN 110: the port's or the server's "
        "VLAN is wrong; configure it again.",
    ]
    moved = finding(link_up=False, device_macs=(SERVER,), device_seen=(seen(SERVER, 110, "swp7"),),
                    in_vlan=(seen(SERVER, 110, "swp7"),))  # fmt: skip
    assert render(moved, "id") == [
        "Port swp3 di tor-btm-01: link down, admin up.",
        "MAC di port ini: tidak ada.",
        "MAC di VLAN 110 di port lain switch ini: swp7: 52:54:00:aa:bb:01.",
        "MAC server menurut NetBox: 52:54:00:aa:bb:01; terlihat di switch: swp7: 52:54:00:aa:bb:01 (VLAN 110).",
        "Kesimpulan: kabel server terpasang di port swp7, bukan di swp3: pindahkan kabel ke swp3 (atau catat port yang "
        "benar di NetBox lalu konfigurasi ulang).",
    ]


def test_the_gateways_arp_entry_for_the_servers_address_is_one_line_of_the_finding() -> None:
    answered = finding(**ON_PORT, gateway="tor-btm-01", arp=(arp(SERVER), arp(None, "198.18.10.20")))
    assert render(answered, "en")[-2:] == [
        f"Gateway ARP on tor-btm-01: {IP} resolves to {SERVER} (learned on swp3).",
        f"Conclusion: the server answers the gateway's ARP for {IP} (MAC {SERVER}) but not ping: check its firewall "
        "(ICMP) and its default gateway.",
    ]
    unanswered = finding(**ON_PORT, gateway="tor-btm-01", arp=(arp(None),))
    assert render(unanswered, "id")[-2:] == [
        f"ARP gateway di tor-btm-01: {IP} tidak terjawab (INCOMPLETE/FAILED): gateway bertanya dan tidak mendapat "
        "jawaban.",
        f"Kesimpulan: server terlihat di VLAN 110 di port swp3 (MAC {SERVER}) tetapi tidak menjawab ARP gateway untuk "
        f"{IP}: alamatnya bukan {IP}; periksa alamat IP dan netmask server.",
    ]
    absent = finding(**ON_PORT, gateway="tor-btm-01", arp=(arp(OTHER, "198.18.10.5"), arp(None, "198.18.10.20")))
    assert render(absent, "en")[-2] == (f"Gateway ARP on tor-btm-01: no entry for {IP}; its other entries in VLAN 110: "
                                        f"198.18.10.5 {OTHER}, 198.18.10.20 unresolved.")  # fmt: skip
    conflict = finding(**ON_PORT, gateway="tor-btm-01", arp=(arp(OTHER),))
    assert (
        render(conflict, "en")[-2]
        == f"Gateway ARP on tor-btm-01: {IP} resolves to {OTHER} (a MAC the switch has not learned)."
    )
    assert render(finding(gateway="tor-btm-01", arp=()), "en")[-2] == "Gateway ARP on tor-btm-01 in VLAN 110: none."


def test_a_gateway_arp_not_read_is_said_so_and_none_asked_says_nothing() -> None:
    lines = render(finding(gateway="tor-btm-01", arp_error="the switch does not show its ARP table"), "en")
    assert lines[-2] == "Gateway ARP on tor-btm-01: not available (the switch does not show its ARP table)."
    assert not any("ARP" in line for line in render(finding(), "en"))
    unreadable = finding(error="switch tor-btm-01: SSH connection refused", gateway="core-btm-01", arp=())
    assert render(unreadable, "en")[1] == "Gateway ARP on core-btm-01 in VLAN 110: none."  # read on another device


def test_a_switch_that_cannot_be_read_is_said_so() -> None:
    lines = render(finding(error="switch tor-btm-01: SSH connection refused"), "id")
    assert lines == [
        "Port swp3 di tor-btm-01: switch tidak dapat dibaca (switch tor-btm-01: SSH connection refused).",
        "Kesimpulan: keadaan port tidak diketahui; periksa server, kabel dan port swp3 secara langsung.",
    ]


@responses.activate
def test_the_devices_macs_are_read_from_netbox_in_the_switches_form() -> None:
    url = "http://netbox.test/api/dcim/mac-addresses/"
    rows = [{"id": 1, "mac_address": "52:54:00:AA:BB:01"}, {"id": 2, "mac_address": "52-54-00-AA-BB-02"}]
    responses.get(url, json={"count": 2, "next": None, "previous": None, "results": rows})
    macs = NetBoxClient("http://netbox.test", "nbt_Yi1KCo3jlP3f.not-the-real-secret", timeout=2).device_macs(9)
    assert macs == [SERVER, OTHER]
    assert "device_id=9" in str(responses.calls[0].request.url)


def test_the_layer_check_reads_the_finding_and_retry_modules() -> None:
    from tests.unit.test_layers import MODULES, layer_of

    assert all(layer_of(m) == "steps" and m in MODULES for m in ("agent.steps.findings", "agent.steps.verify_retry"))


def _outputs(outputs: dict[str, dict[str, object]]) -> StepContext:
    return StepContext(run_id="r", playbook="new-network", step="verify_monitoring",
                       request=ObjectRef("circuits.circuit", 4), outputs=outputs, services=None,
                       locks=InProcessLocks(), clock=FakeClock())  # fmt: skip


def test_the_port_is_found_where_a_colocation_or_a_new_connection_recorded_it() -> None:
    cabled = {"switch_id": 5, "switch": "tor-btm-01", "port": "swp12"}
    connection = _outputs({"cable_connection": cabled, "configure_connection_port": {"port": "swp12", "vlan": 321}})
    assert cabled_port(connection) == (cabled, "swp12", 321)
    assert cabled_port(_outputs({"register_connection": {"host_id": "1"}})) is None
    unknown = gather(None, _outputs({}))  # type: ignore[arg-type]  # nothing read: no service asked
    assert conclude(unknown) == "unreadable" and "tidak mencatat port switch" in str(unknown.error)
