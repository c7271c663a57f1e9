"""The layer-3 and MAC-table parsers on what each platform prints (``tests/unit/recorded/switches``): tolerant of the
rows and stanzas that are not what is asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integrations.switches.base import MacEntry, Neighbor, config_stanza
from integrations.switches.ios_l3 import (
    EOS_SHORT_NAMES,
    IOS_SHORT_NAMES,
    link_state,
    long_name,
    parse_ip_arp,
    parse_mac_table,
    parse_svi,
    svi_addresses,
    svi_neighbors,
)
from integrations.switches.ovs_l3 import (
    FrrConfig,
    FrrOper,
    frr_config,
    frr_oper,
    gateway_state,
    ofport_names,
    parse_fdb,
    parse_proc_arp,
    rows,
    split_vtysh,
)

RECORDED = Path(__file__).parents[1] / "recorded" / "switches"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text(encoding="utf-8")


# -- ovs_linux: OVS's learning table, FRR's report and configuration --------------------------------------------------
def test_the_fdb_is_mapped_to_port_names_without_local_multicast_or_gateway_ports() -> None:
    names = ofport_names(rows(recorded("ovs_linux.list-interface.json")))
    assert names == {4: "swp4", 5: "swp5", 50: "uplink1", 65534: "br0"}  # unassigned, failed and vlan110 left out
    fdb = parse_fdb(recorded("ovs_linux.fdb-show.txt"))
    assert (4, 120, "52:54:00:12:34:57") in fdb and not any(mac.startswith("ce:4f") for _, _, mac in fdb)  # LOCAL
    entries = [(names[n], vid, mac) for n, vid, mac in fdb if n in names]
    assert entries == [("swp4", 110, "52:54:00:12:34:56"), ("swp5", 110, "52:54:00:ab:cd:ef"),
                       ("swp4", 120, "52:54:00:12:34:57"), ("uplink1", 100, "0a:58:c6:12:0a:01")]  # fmt: skip


def test_zebras_report_is_read_for_addresses_and_state() -> None:
    report, rest = split_vtysh(recorded("ovs_linux.frr-show-interface-vlan110.json"))
    assert rest.strip() == ""
    assert frr_oper(report, "vlan110") == FrrOper(present=True, addresses=("198.18.10.1/24", "198.18.11.1/24"),
                                                  admin_up=True, pseudo=False)  # fmt: skip
    assert frr_oper(report, "vlan120") == FrrOper()
    pseudo, _ = split_vtysh(recorded("ovs_linux.frr-show-interface-pseudo.json"))
    assert frr_oper(pseudo, "vlan120") == FrrOper(present=True, admin_up=False, pseudo=True)
    assert frr_oper({}, "vlan110") == FrrOper()  # `{}`: zebra knows no such interface


def test_a_secondary_address_is_never_the_primary_and_ipv6_is_left_out() -> None:
    listed = [{"address": "198.18.11.1/24", "secondary": True}, {"address": "fe80::1/64", "secondary": False},
              {"address": "198.18.10.1/24", "secondary": False}, {"address": None}, "junk"]  # fmt: skip
    found = frr_oper({"vlan110": {"administrativeStatus": "up", "ipAddresses": listed}}, "vlan110")
    assert found.addresses == ("198.18.10.1/24", "198.18.11.1/24") and found.admin_up is True


def test_frrs_configuration_is_read_stanza_by_stanza() -> None:
    config = recorded("ovs_linux.frr-show-running-config.txt")
    assert frr_config(config, "vlan110") == FrrConfig(True, ("198.18.10.1/24", "198.18.11.1/24"), False)
    assert frr_config(config, "vlan120") == FrrConfig(True, ("198.18.20.1/24",), True)  # `label gw` ignored
    assert frr_config(config, "vlan130") == FrrConfig(True, (), False)
    assert frr_config(config, "vlan1100").addresses == ("198.18.99.1/24",)
    assert frr_config(config, "vlan11") == FrrConfig()


def test_one_vtysh_answer_holds_the_report_then_the_configuration() -> None:
    """What FRR 8.4.4 answered to the driver's read (``show interface vlan110 json`` + ``show running-config``)."""
    report, config = split_vtysh(recorded("ovs_linux.frr-get-gateway-vlan110.txt"))
    assert frr_oper(report, "vlan110").addresses == ("198.18.10.1/24", "198.18.11.1/24")
    assert config.lstrip().startswith("Building configuration")
    assert frr_config(config, "vlan110") == FrrConfig(True, ("198.18.10.1/24", "198.18.11.1/24"), False)
    assert frr_config(config, "vlan120") == FrrConfig(True, ("198.18.20.1/24",), True)
    state, _ = gateway_state(110, True, frr_oper(report, "vlan110"), frr_config(config, "vlan110"))
    assert state is not None and (state.interface, state.address, state.enabled) == ("vlan110", "198.18.10.1/24", True)
    assert split_vtysh("{}\n" + config) == ({}, "\n" + config)
    assert split_vtysh("% Can't find interface vlan110\n" + config)[0] == {}
    assert split_vtysh('{"vlan110": {"ipAddr')[0] == {}  # cut short: no report, nothing raised


@pytest.mark.parametrize(
    ("port", "oper", "config", "expected"),
    [
        (False, FrrOper(), FrrConfig(), None),
        (False, FrrOper(True, ("198.18.10.1/24",), True), FrrConfig(True), None),  # stale report: no port
        (False, FrrOper(), FrrConfig(True, ("198.18.10.1/24",)), ("198.18.10.1/24", False)),  # port deleted by hand
        (True, FrrOper(), FrrConfig(), (None, True)),  # a run killed between the port and the address
        (True, FrrOper(True, (), False, pseudo=True), FrrConfig(True, ("198.18.10.1/24",)), ("198.18.10.1/24", True)),
        (True, FrrOper(True, ("198.18.10.1/24",), True), FrrConfig(True, (), True), ("198.18.10.1/24", False)),
        (True, FrrOper(True, ("198.18.10.1/24",), False), FrrConfig(), ("198.18.10.1/24", False)),
        (True, FrrOper(True, ("198.18.10.1/24",), True), FrrConfig(True, ("198.18.20.1/24",)),
         ("198.18.20.1/24", True)),  # FRR's configuration first
    ],
)  # fmt: skip
def test_the_gateway_is_what_ovs_frr_and_zebra_say_together(
    port: bool, oper: FrrOper, config: FrrConfig, expected: tuple[str | None, bool] | None
) -> None:
    state, _ = gateway_state(110, port, oper, config)
    assert (None if state is None else (state.address, state.enabled)) == expected


def test_the_kernels_arp_table_is_read_for_the_gateways_device_only() -> None:
    """Captured in the lab: the copies the kernel keeps on the access ports' devices (it answers ARP for the gateway's
    address there too) and the router link's entry are no neighbours of the gateway."""
    found = parse_proc_arp(recorded("ovs_linux.proc-net-arp.txt"), "vlan130")
    assert found == [Neighbor(ip="198.18.30.2", mac="8a:19:a4:08:14:34", state="resolved"),
                     Neighbor(ip="198.18.30.3", mac="aa:1c:c5:4b:ae:d3", state="resolved")]  # fmt: skip
    assert parse_proc_arp(recorded("ovs_linux.proc-net-arp.txt"), "vlan140") == []


def test_an_unresolved_kernel_entry_has_no_mac_even_the_one_it_last_held_and_proxies_are_left_out() -> None:
    found = parse_proc_arp(recorded("ovs_linux.proc-net-arp-unresolved.txt"), "vlan130")
    assert [(n.ip, n.mac, n.state) for n in found] == [
        ("198.18.30.2", "8a:19:a4:08:14:34", "resolved"), ("198.18.30.7", None, "unresolved"),  # INCOMPLETE
        ("198.18.30.9", None, "unresolved"),  # FAILED: the kernel still prints its old MAC
        ("198.18.30.20", "52:54:00:aa:bb:20", "resolved"),  # PERMANENT
    ]  # fmt: skip
    assert parse_proc_arp("cat: /proc/4242/net/arp: Permission denied", "vlan130") == []


# -- IOS and EOS -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", ["cisco_ios", "arista_eos"])
def test_svis_are_read_from_the_running_config(platform: str) -> None:
    config = recorded(f"{platform}.show-running-config-svi.txt")
    found = {vid: parse_svi(vid, config) for vid in (1, 110, 120, 130, 1100, 140)}
    read = {vid: None if s is None else (s.interface, s.address, s.enabled) for vid, s in found.items()}
    assert read[110] == ("Vlan110", "198.18.10.1/24", True)  # the secondary is not the gateway
    assert read[120] == ("Vlan120", "198.18.20.1/25", False)
    assert read[130] == ("Vlan130", None, True)
    assert read[1100] == ("Vlan1100", "198.18.99.1/24", True) and read[140] is None
    assert read[1] == (None if platform == "arista_eos" else ("Vlan1", None, False))


def test_the_ios_mac_table_leaves_out_cpu_svi_and_multicast_rows() -> None:
    found = parse_mac_table(recorded("cisco_ios.show-mac-address-table.txt"), IOS_SHORT_NAMES)
    assert found == [MacEntry(mac="00:50:56:ab:cd:ef", vlan=110, port="GigabitEthernet1/0/4"),
                     MacEntry(mac="00:50:56:ab:00:05", vlan=110, port="GigabitEthernet1/0/5"),
                     MacEntry(mac="00:50:56:ab:00:04", vlan=120, port="GigabitEthernet1/0/4"),
                     MacEntry(mac="52:54:00:12:34:56", vlan=100, port="TenGigabitEthernet1/1/1")]  # fmt: skip


def test_the_eos_mac_table_leaves_out_router_and_multicast_rows() -> None:
    found = parse_mac_table(recorded("arista_eos.show-mac-address-table.txt"), EOS_SHORT_NAMES)
    assert [(e.port, e.vlan, e.mac) for e in found] == [
        ("Ethernet4", 110, "00:50:56:ab:cd:ef"), ("Ethernet5", 110, "00:50:56:ab:00:05"),
        ("Ethernet4", 120, "00:50:56:ab:00:04"), ("Ethernet49", 100, "52:54:00:12:34:56")]  # fmt: skip


def test_link_state_and_long_names() -> None:
    assert link_state(recorded("cisco_ios.show-interfaces.txt")) is True
    assert link_state(recorded("arista_eos.show-interfaces.txt")) is False  # "notpresent"
    assert link_state("") is None
    assert long_name("Gi1/0/4", IOS_SHORT_NAMES) == "GigabitEthernet1/0/4"
    assert long_name("Twe1/0/1", IOS_SHORT_NAMES) == "TwentyFiveGigE1/0/1"
    assert long_name("GigabitEthernet1/0/4", IOS_SHORT_NAMES) == "GigabitEthernet1/0/4"
    assert long_name("Et49/1", EOS_SHORT_NAMES) == "Ethernet49/1" and long_name("CPU", EOS_SHORT_NAMES) == "CPU"


def test_a_stanza_ends_at_the_next_unindented_line() -> None:
    config = "interface Vlan11\n ip address 10.0.0.1 255.0.0.0\n!\ninterface Vlan110\n shutdown\nexit\n shutdown\n"
    assert config_stanza(config, "interface Vlan110") == ["shutdown"]
    assert config_stanza(config, "interface Vlan11") == ["ip address 10.0.0.1 255.0.0.0"]
    assert config_stanza("interface vlan110 vrf red\n ip address 198.18.10.1/24\n", "interface vlan110") == [
        "ip address 198.18.10.1/24"]  # fmt: skip
    assert config_stanza(json.dumps({"interface Vlan110": 1}), "interface Vlan110") is None


def test_the_ios_arp_table_gives_the_svi_its_rows_and_the_incomplete_ones_in_its_subnets() -> None:
    """IOS prints an unresolved row with no interface: it is the SVI's whose subnet holds the address. The SVI's own
    addresses (the primary and the secondary, age ``-``) are no neighbours; a static entry (``-`` too) is one."""
    table = parse_ip_arp(recorded("cisco_ios.show-ip-arp.txt"))
    assert ("198.18.10.22", None, None) in table and ("10.0.0.2", "00:50:56:ab:00:fe", "GigabitEthernet1/0/48") in table
    own = svi_addresses(110, recorded("cisco_ios.show-running-config-svi.txt"))
    assert [str(a) for a in own or []] == ["198.18.11.1/24", "198.18.10.1/24"]
    assert [(n.ip, n.mac) for n in svi_neighbors(table, 110, own or [])] == [
        ("198.18.10.14", "00:50:56:ab:cd:ef"), ("198.18.10.22", None), ("198.18.10.31", "00:50:56:ab:00:05"),
        ("198.18.10.40", "00:50:56:ab:00:40")]  # fmt: skip
    own120 = svi_addresses(120, recorded("cisco_ios.show-running-config-svi.txt")) or []
    assert [(n.ip, n.state) for n in svi_neighbors(table, 120, own120)] == [("198.18.20.5", "unresolved"),
                                                                           ("198.18.20.9", "resolved")]  # fmt: skip
    assert svi_addresses(130, recorded("cisco_ios.show-running-config-svi.txt")) == []  # an SVI with no address
    assert svi_addresses(140, recorded("cisco_ios.show-running-config-svi.txt")) is None


def test_the_eos_arp_table_of_an_svi_names_the_svi_then_the_port() -> None:
    table = parse_ip_arp(recorded("arista_eos.show-ip-arp-interface-vlan110.txt"))
    assert table == [("198.18.10.14", "00:50:56:ab:cd:ef", "Vlan110"), ("198.18.10.31", "00:50:56:ab:00:05", "Vlan110"),
                     ("198.18.10.40", "00:50:56:ab:00:40", "Vlan110")]  # fmt: skip
    own = svi_addresses(110, recorded("arista_eos.show-running-config-svi.txt")) or []
    assert [n.ip for n in svi_neighbors(table, 110, own)] == ["198.18.10.14", "198.18.10.31", "198.18.10.40"]
    vrfs = "VRF: MGMT\nAddress  Age (sec)  Hardware Addr   Interface\n10.1.1.1  0:00:00  004c.6211.113e  Vlan1\n"
    assert parse_ip_arp(vrfs) == [("10.1.1.1", "00:4c:62:11:11:3e", "Vlan1")]
    assert parse_ip_arp("% Invalid input detected at '^' marker.") == []
