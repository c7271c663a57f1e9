"""ovs_linux gateways through FRR, as the lab's switches run it: the exact shell lines (the lab's contract), a switch
without FRR, zebra's report lagging behind its configuration, and a removal zebra has not caught up with."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrations.errors import PermanentError
from integrations.switches.ovs_linux import OvsLinuxDriver
from tests.unit.switches.fakes import FakeOvs, Port

RECORDED = Path(__file__).parents[1] / "recorded" / "switches"
GW = "198.18.10.1/24"
RC = "; echo __DCAGENT_RC=$?"
FIND = f"ovs-vsctl --timeout=10 --format=json --columns=name,tag find port name=vlan110{RC}"
READ = f"vtysh -N \"$FRR_PATHSPACE\" -c 'show interface vlan110 json' -c 'show running-config'{RC}"


def switch(pathspace: str = "tor-btm-01") -> tuple[OvsLinuxDriver, FakeOvs]:
    fake = FakeOvs(["swp4", "swp5"], pathspace=pathspace)
    return OvsLinuxDriver(fake, "tor-btm-01"), fake


def test_the_lines_sent_are_the_labs_contract() -> None:
    driver, fake = switch()
    driver.ensure_gateway(110, GW, "gw Dinas Pendidikan")
    assert fake.sent == [
        f'echo "$FRR_PATHSPACE"{RC}', FIND, READ,
        "ovs-vsctl --timeout=10 --may-exist add-port br0 vlan110 -- set interface vlan110 type=internal -- set port "
        f"vlan110 tag=110 'external_ids:description=\"gw Dinas Pendidikan\"'{RC}",
        f"vtysh -N \"$FRR_PATHSPACE\" -c 'configure terminal' -c 'interface vlan110' -c 'ip address {GW}' "
        f"-c 'no shutdown'{RC}",
        FIND, READ,
    ]  # fmt: skip
    del fake.sent[:]
    assert driver.remove_gateway(110) is True
    assert fake.sent == [
        FIND, READ,
        f"vtysh -N \"$FRR_PATHSPACE\" -c 'configure terminal' -c 'interface vlan110' -c 'no ip address {GW}'{RC}",
        f"ovs-vsctl --timeout=10 --if-exists del-port br0 vlan110{RC}",
        f"vtysh -N \"$FRR_PATHSPACE\" -c 'configure terminal' -c 'no interface vlan110'{RC}",
        FIND, READ,
    ]  # fmt: skip
    del fake.sent[:]
    driver.mac_table(vid=110)
    driver.save()
    assert fake.sent == [f"ovs-vsctl --timeout=10 --format=json --columns=name,ofport list interface{RC}",
                         f"ovs-appctl --timeout=10 fdb/show br0{RC}",
                         f"vtysh -N \"$FRR_PATHSPACE\" -c 'write memory'{RC}"]  # fmt: skip


def test_the_gateways_arp_is_read_from_zebras_namespace_and_a_refusal_is_not_available() -> None:
    """The lab's contract: the session reads ``/proc/<zebra's pid>/net/arp`` (no privilege; ``ip -n`` would need
    one); a pid file that names no zebra, or a file the user may not read, is "not available", never an error."""
    driver, fake = switch()
    driver.ensure_gateway(130, "198.18.30.1/24", "gw")
    fake.neighbors = [("198.18.30.2", "8a:19:a4:08:14:34", 130), ("198.18.30.7", None, 130)]
    del fake.sent[:]
    found = driver.gateway_neighbors(130)
    assert [(n.ip, n.state) for n in found or []] == [("198.18.30.2", "resolved"), ("198.18.30.7", "unresolved")]
    assert fake.sent == ['pid=$(cat "/var/run/frr/$FRR_PATHSPACE/zebra.pid") && [ "$(cat /proc/$pid/comm)" = zebra ] '
                         f"&& cat /proc/$pid/net/arp{RC}"]  # fmt: skip
    fake.arp_refused = True
    assert driver.gateway_neighbors(130) is None
    plain, without = switch(pathspace="")
    assert plain.gateway_neighbors(130) == [] and not any("arp" in s for s in without.sent)


def test_a_switch_without_frr_does_not_route_but_saves_and_learns() -> None:
    driver, fake = switch(pathspace="")
    for call in (lambda: driver.get_gateway(110), lambda: driver.ensure_gateway(110, GW, "gw"),
                 lambda: driver.remove_gateway(110)):  # fmt: skip
        with pytest.raises(PermanentError, match=r"tor-btm-01 does not route \(no FRR\)"):
            call()
    fake.macs = [("52:54:00:12:34:56", 110, "swp4")]
    assert [e.port for e in driver.mac_table()] == ["swp4"]
    driver.save()
    assert not any(s.startswith("vtysh") for s in fake.sent) and fake.gateways == {}
    assert sum(s.startswith("echo") for s in fake.sent) == 1  # asked once per session


def test_the_address_is_read_from_frrs_configuration_while_zebra_lags() -> None:
    """Zebra lists an address only once the kernel confirmed it: right after the change the configuration answers."""
    driver, fake = switch()
    fake.frr.lag = True  # zebra has not seen the new interface yet: a pseudo interface, administratively down
    made = driver.ensure_gateway(110, GW, "gw")
    assert (made.address, made.enabled) == (GW, True)


def test_a_stale_zebra_report_after_removal_is_no_gateway() -> None:
    driver, fake = switch()
    driver.ensure_gateway(110, GW, "gw")
    fake.frr.report = (RECORDED / "ovs_linux.frr-show-interface-vlan110.json").read_text(encoding="utf-8")
    assert driver.remove_gateway(110) is True and driver.get_gateway(110) is None


def test_an_empty_frr_stanza_zebra_would_not_delete_yet_is_no_gateway() -> None:
    driver, fake = switch()
    driver.ensure_gateway(110, GW, "gw")
    fake.frr.kernel = lambda name: True  # zebra has not seen the interface go: `no interface` fails
    assert driver.remove_gateway(110) is True
    assert "vlan110" in fake.frr.interfaces and fake.frr.interfaces["vlan110"].addresses == []
    assert driver.get_gateway(110) is None and driver.remove_gateway(110) is False


def test_an_address_set_outside_frr_is_seen_and_not_readdressed() -> None:
    """The port exists and zebra reports an address FRR was not configured with (``ip addr add``): still refused."""
    driver, fake = switch()
    fake.gateways["vlan110"] = Port(vlan=110)
    fake.frr.report = (RECORDED / "ovs_linux.frr-show-interface-vlan110.json").read_text(encoding="utf-8")
    found = driver.get_gateway(110)
    assert found is not None and (found.address, found.enabled) == (GW, True)
    with pytest.raises(PermanentError, match=r"198\.18\.10\.1/24, not 198\.18\.20\.1/24"):
        driver.ensure_gateway(110, "198.18.20.1/24", "gw")


def test_an_interface_shut_in_frr_or_reported_down_is_not_enabled_and_ensure_brings_it_up() -> None:
    driver, fake = switch()
    driver.ensure_gateway(110, GW, "gw")
    fake.frr.interfaces["vlan110"].shutdown = True
    shut = driver.get_gateway(110)
    assert shut is not None and not shut.enabled
    assert driver.ensure_gateway(110, GW, "gw").enabled and not fake.frr.interfaces["vlan110"].shutdown
    recorded = (RECORDED / "ovs_linux.frr-show-interface-vlan110.json").read_text(encoding="utf-8")
    fake.frr.report = recorded.replace('"administrativeStatus":"up"', '"administrativeStatus":"down"')
    down = driver.get_gateway(110)  # `ip link set vlan110 down` behind FRR's back
    assert down is not None and (down.address, down.enabled) == (GW, False)


def test_a_gateway_port_is_neither_a_vlan_member_nor_a_learning_port() -> None:
    driver, fake = switch()
    driver.ensure_vlan(110, "disdik")
    driver.configure_access_port("swp4", 110, "srv")
    driver.ensure_gateway(110, GW, "gw")
    fake.macs = [("52:54:00:12:34:56", 110, "swp4"), ("9a:3e:11:5c:20:01", 110, "vlan110")]
    assert [e.port for e in driver.mac_table(vid=110)] == ["swp4"]
    found = driver.get_vlan(110)
    assert found is not None and found.ports == ("swp4",)
    with pytest.raises(PermanentError, match="no port 'vlan110'"):
        driver.mac_table(port="vlan110")


def test_a_vtysh_failure_is_an_error_naming_the_command() -> None:
    driver, fake = switch()
    fake.frr.running = False  # no zebra under the session's pathspace
    with pytest.raises(PermanentError, match=r"vtysh -c 'show running-config'.*failed to connect to any daemons"):
        driver.ensure_gateway(110, GW, "gw")
    assert fake.gateways == {}
