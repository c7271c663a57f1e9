"""One conformance suite, run against every switch driver (NAPALM-style), through the CliSession seam."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_interface
from pathlib import Path
from typing import Any

import pytest
import yaml

from integrations.errors import PermanentError
from integrations.switches import DRIVERS
from integrations.switches.base import PortState, SwitchDriver, port_differences
from tests.unit.switches.fakes import FakeIos, FakeOvs, Port
from tests.unit.switches.fakes_l3 import FrrIf, Svi

FIXTURES = Path(__file__).parent / "fixtures"
SIMULATORS: dict[str, Callable[[list[str]], Any]] = {
    "ios": lambda ports: FakeIos(ports),
    "eos": lambda ports: FakeIos(ports, eos=True),
    "ovs": lambda ports: FakeOvs(ports),
}


@dataclass
class Case:
    driver: SwitchDriver
    fake: Any
    port: str
    other: str
    trunk: str
    unknown: str
    foreign: str | None


def load_case(platform: str) -> Case:
    """The platform's case from ``fixtures/<platform>/case.yaml``: a new vendor adds its module and this folder."""
    spec = yaml.safe_load((FIXTURES / platform / "case.yaml").read_text(encoding="utf-8"))
    ports = spec["ports"]
    fake = SIMULATORS[spec["cli"]]([ports["access"], ports["other"], ports["trunk"]])
    fake.port(ports["trunk"]).mode, fake.port(ports["trunk"]).trunk = "trunk", [100]  # the uplink: VLAN 100 only
    return Case(DRIVERS[platform](fake, f"sw-{platform}"), fake, ports["access"], ports["other"], ports["trunk"],
                spec["unknown"], spec["foreign"])  # fmt: skip


PLATFORM_CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "case.yaml").is_file())


@pytest.fixture(params=PLATFORM_CASES)
def case(request: pytest.FixtureRequest) -> Case:
    return load_case(request.param)


def test_every_platform_has_a_conformance_case() -> None:
    assert set(PLATFORM_CASES) == set(DRIVERS) == {"ovs_linux", "cisco_ios", "arista_eos"}


def test_fresh_port_reads_as_unconfigured_and_enabled(case: Case) -> None:
    state = case.driver.get_port(case.port)
    assert (state.name, state.mode, state.access_vlan, state.enabled, state.description) == (
        case.port, "access", None, True, "")  # fmt: skip


def test_configure_reads_back_and_touches_only_that_port(case: Case) -> None:
    state = case.driver.configure_access_port(case.port, 110, "srv-disdik-09 Dinas Pendidikan")
    assert (state.mode, state.access_vlan, state.enabled) == ("access", 110, True)
    assert state.description == "srv-disdik-09 Dinas Pendidikan"
    assert case.fake.port(case.port).vlan == 110
    assert case.driver.get_port(case.other).access_vlan is None


def test_shutdown_and_reset(case: Case) -> None:
    assert case.driver.configure_access_port(case.port, 120, "x", enabled=False).enabled is False
    assert case.fake.port(case.port).shutdown
    reset = case.driver.reset_port(case.port)
    assert (reset.access_vlan, reset.enabled, reset.description) == (None, True, "")


def test_a_retired_port_is_reset_and_shut(case: Case) -> None:
    case.driver.configure_access_port(case.port, 120, "srv-old Dinas Lama")
    retired = case.driver.retire_port(case.port)
    assert (retired.access_vlan, retired.enabled, retired.description) == (None, False, "")
    assert case.fake.port(case.port).shutdown and case.driver.get_port(case.other).enabled


# -- undo: the port as it was before the run, its administrative state included (issue 30 #4) ------------------------
def test_a_port_that_was_shut_and_unconfigured_is_restored_shut(case: Case) -> None:
    case.driver.retire_port(case.port)  # an empty port, administratively down
    before = case.driver.get_port(case.port)
    assert (before.access_vlan, before.enabled) == (None, False)
    case.driver.configure_access_port(case.port, 110, "srv-disdik-09 Dinas Pendidikan", enabled=True)
    restored = case.driver.restore_port(before)
    assert port_differences(before, restored) == []
    assert (restored.access_vlan, restored.enabled, restored.description) == (None, False, "")
    assert case.fake.port(case.port).shutdown


@pytest.mark.parametrize("enabled", [False, True])
def test_a_configured_port_gets_back_its_vlan_description_and_admin_state(case: Case, enabled: bool) -> None:
    before = case.driver.configure_access_port(case.port, 130, "printer lantai 2", enabled=enabled)
    case.driver.configure_access_port(case.port, 110, "srv-disdik-09 Dinas Pendidikan", enabled=not enabled)
    restored = case.driver.restore_port(before)
    assert port_differences(before, restored) == []
    assert (restored.access_vlan, restored.enabled, restored.description) == (130, enabled, "printer lantai 2")
    assert case.fake.port(case.port).shutdown is not enabled


@pytest.mark.parametrize("allowed", [(100, 101, 102, 110), None])  # None: a trunk carrying every VLAN
def test_a_trunk_gets_back_its_allowed_list(case: Case, allowed: tuple[int, ...] | None) -> None:
    case.fake.port(case.trunk).trunk = None if allowed is None else list(allowed)
    before = case.driver.get_port(case.trunk)
    case.driver.configure_access_port(case.trunk, 110, "x", enabled=False)
    restored = case.driver.restore_port(before)
    assert port_differences(before, restored) == []
    assert (restored.mode, restored.enabled, restored.all_vlans) == ("trunk", True, allowed is None)
    assert restored.trunk_vlans == (allowed or ())


def test_a_restore_names_what_differs(case: Case) -> None:
    before = PortState(name=case.port, enabled=False, mode="access", access_vlan=None, description="")
    now = case.driver.get_port(case.port)
    assert port_differences(before, now) == ["enabled True (was False)"]


def test_a_description_never_carries_a_second_command(case: Case) -> None:
    state = case.driver.configure_access_port(case.port, 110, "web\nend\nwrite erase\r\nreload")
    assert state.description == "web end write erase reload"
    for sent in case.fake.sent:
        assert "\n" not in sent.replace("; echo", "") and "\r" not in sent
    assert not any(s.strip() in ("write erase", "reload") for s in case.fake.sent)


@pytest.mark.parametrize("vlan", [0, 4095])
def test_out_of_range_vlan_sends_nothing(case: Case, vlan: int) -> None:
    with pytest.raises(PermanentError, match="out of range"):
        case.driver.configure_access_port(case.port, vlan, "x")
    assert case.fake.sent == []


@pytest.mark.parametrize("bad", ["Gi1/0/4; reload", "swp4\nreboot", "../x", ""])
def test_bad_port_name_sends_nothing(case: Case, bad: str) -> None:
    with pytest.raises(PermanentError):
        case.driver.get_port(bad)
    assert case.fake.sent == []


def test_unknown_port_is_a_clear_error(case: Case) -> None:
    with pytest.raises(PermanentError):
        case.driver.get_port(case.unknown)


def test_running_config_and_save(case: Case) -> None:
    case.driver.configure_access_port(case.port, 130, "x")
    assert case.port in case.driver.running_config()
    case.driver.save()
    case.driver.close()
    if case.driver.platform != "ovs_linux":
        assert case.fake.saves == 1


@pytest.mark.parametrize("platform", [p for p in PLATFORM_CASES if load_case(p).foreign])  # OVS takes any name
def test_platform_port_names_are_checked(platform: str) -> None:
    case = load_case(platform)
    assert case.foreign is not None
    with pytest.raises(PermanentError, match=f"not a {case.driver.platform} access port name"):
        case.driver.get_port(case.foreign)
    assert case.fake.sent == []


# -- VLANs, trunks and rate limits (new network connections, SOP 001) ------------------------------------------------
def test_a_vlan_is_defined_with_a_safe_name_and_read_back_with_its_ports(case: Case) -> None:
    made = case.driver.ensure_vlan(120, "OPD Disdik / internet\nreload")
    assert (made.vid, made.name, made.ports) == (120, "OPD-Disdik-internet-reload", ())
    case.driver.configure_access_port(case.port, 120, "link disdik")
    again = case.driver.ensure_vlan(120, "OPD Disdik / internet\nreload")
    assert again.ports == (case.port,)
    assert case.driver.get_vlan(121) is None
    assert len(case.driver.ensure_vlan(121, "x" * 40).name) == 32
    assert not any(s.strip() == "reload" for s in case.fake.sent)


def test_a_vlan_a_port_still_carries_is_never_removed(case: Case) -> None:
    case.driver.ensure_vlan(120, "disdik")
    case.driver.configure_access_port(case.port, 120, "link disdik")
    assert case.driver.remove_vlan(120) is False and case.driver.get_vlan(120) is not None
    case.driver.reset_port(case.port)
    assert case.driver.remove_vlan(120) is True and case.driver.get_vlan(120) is None


def test_a_trunk_is_widened_and_narrowed_by_one_vlan_only(case: Case) -> None:
    case.driver.ensure_vlan(120, "disdik")
    widened = case.driver.allow_on_trunk(case.trunk, 120)
    assert (widened.mode, widened.trunk_vlans, widened.carries(120)) == ("trunk", (100, 120), True)
    assert case.driver.allow_on_trunk(case.trunk, 120).trunk_vlans == (100, 120)  # idempotent
    carried = case.driver.get_vlan(120)
    assert carried is not None and case.trunk in carried.ports
    narrowed = case.driver.disallow_on_trunk(case.trunk, 120)
    assert narrowed.trunk_vlans == (100,) and not narrowed.carries(120)


def test_an_access_port_is_no_trunk_and_a_trunk_carrying_every_vlan_is_not_narrowed(case: Case) -> None:
    with pytest.raises(PermanentError, match="no trunk"):
        case.driver.allow_on_trunk(case.port, 120)
    case.fake.port(case.trunk).trunk = None  # every VLAN
    assert case.driver.allow_on_trunk(case.trunk, 120).all_vlans
    with pytest.raises(PermanentError, match="every VLAN"):
        case.driver.disallow_on_trunk(case.trunk, 120)


def test_a_rate_limit_is_set_changed_read_back_and_removed(case: Case) -> None:
    assert case.driver.get_rate_limit(case.port) is None
    assert case.driver.set_rate_limit(case.port, 20_000) == 20_000
    assert case.driver.set_rate_limit(case.port, 50_000) == 50_000
    assert case.driver.get_rate_limit(case.other) is None
    assert case.driver.set_rate_limit(case.port, None) is None
    sent = len(case.fake.sent)
    with pytest.raises(PermanentError, match="out of range"):
        case.driver.set_rate_limit(case.port, 10)
    assert len(case.fake.sent) == sent + (0 if case.driver.platform == "ovs_linux" else 1)  # IOS reads first


# -- Layer 3: gateways, the MAC table, link state (issue 31 items 2 and 4) --------------------------------------------
GW = "198.18.10.1/24"


def held(case: Case, vid: int) -> list[str]:
    """The addresses the device itself holds on the VLAN's gateway, read from the fake (not through the driver)."""
    if isinstance(case.fake, FakeOvs):
        return list(case.fake.frr.interfaces.get(f"vlan{vid}", FrrIf()).addresses)
    svi = case.fake.svis.get(vid)
    return [] if svi is None or svi.address is None else [str(ip_interface(svi.address.replace(" ", "/")))]


def test_a_gateway_is_created_read_back_and_idempotent(case: Case) -> None:
    assert case.driver.get_gateway(110) is None
    made = case.driver.ensure_gateway(110, GW, "gw Disdik\nreload")
    assert (made.vlan, made.interface.lower(), made.address, made.enabled) == (110, "vlan110", GW, True)
    assert case.driver.get_gateway(110) == made
    assert case.driver.ensure_gateway(110, "198.18.10.1/255.255.255.0", "gw Disdik\nreload") == made
    assert held(case, 110) == [GW]  # one address, not a second one beside it
    assert case.driver.get_gateway(120) is None
    assert not any(s.strip() == "reload" or "\n" in s.replace("; echo", "") for s in case.fake.sent)


def test_a_gateway_with_another_address_is_refused_and_kept(case: Case) -> None:
    case.driver.ensure_gateway(110, GW, "gw")
    sent = len(case.fake.sent)
    with pytest.raises(PermanentError, match=r"198\.18\.10\.1/24.*198\.18\.20\.1/24"):
        case.driver.ensure_gateway(110, "198.18.20.1/24", "gw")
    with pytest.raises(PermanentError, match="readdress"):
        case.driver.ensure_gateway(110, "198.18.10.1/25", "gw")  # the same address in another subnet is another
    assert held(case, 110) == [GW]
    assert not any("198.18.20" in s or "/25" in s or "255.255.255.128" in s for s in case.fake.sent[sent:])


def test_an_interface_without_an_address_gets_one_and_comes_up(case: Case) -> None:
    """An interface someone made (or a run killed halfway) with no address yet: completed, not refused."""
    if isinstance(case.fake, FakeOvs):
        case.fake.gateways["vlan130"] = Port(vlan=130)
    else:
        case.fake.svis[130] = Svi()  # shut, no address
    before = case.driver.get_gateway(130)
    assert before is not None and before.address is None
    made = case.driver.ensure_gateway(130, "198.18.30.1/24", "gw")
    assert (made.address, made.enabled) == ("198.18.30.1/24", True)


def test_a_gateway_is_removed_once(case: Case) -> None:
    case.driver.ensure_gateway(110, GW, "gw")
    assert case.driver.remove_gateway(110) is True
    assert case.driver.get_gateway(110) is None and held(case, 110) == []
    assert case.driver.remove_gateway(110) is False


def test_a_gateway_is_no_port_of_its_vlan_and_is_saved(case: Case) -> None:
    case.driver.ensure_vlan(110, "disdik")
    case.driver.ensure_gateway(110, GW, "gw")
    found = case.driver.get_vlan(110)
    assert found is not None and found.ports == ()
    case.driver.save()
    assert case.fake.saves == 1
    if isinstance(case.fake, FakeOvs):  # what FRR wrote to its file
        assert case.fake.frr.saved is not None and case.fake.frr.saved["vlan110"].addresses == [GW]


BAD_LAYER3_CALLS = [
    ("get_gateway", (0,)), ("get_gateway", (4095,)), ("remove_gateway", (4095,)), ("ensure_gateway", (0, GW, "x")),
    ("ensure_gateway", (110, "198.18.10.0/24", "x")),  # the subnet's network address
    ("ensure_gateway", (110, "198.18.10.255/24", "x")),  # its broadcast address
    ("ensure_gateway", (110, "198.18.10.1", "x")),  # no prefix length
    ("ensure_gateway", (110, "198.18.10.1/31", "x")), ("ensure_gateway", (110, "198.18.10.1/32", "x")),
    ("ensure_gateway", (110, "2001:db8::1/64", "x")), ("ensure_gateway", (110, "224.0.0.1/24", "x")),
    ("ensure_gateway", (110, "127.0.0.1/8", "x")), ("ensure_gateway", (110, "gateway", "x")),
    ("ensure_gateway", (110, "198.18.10.1/24\nreload", "x")), ("ensure_gateway", (110, "198.18.10.1/24; reload", "x")),
    ("mac_table", (0, None)), ("mac_table", (4095, "swp4")), ("mac_table", (None, "swp4; reboot")),
    ("mac_table", (None, "")),
]  # fmt: skip


@pytest.mark.parametrize(("method", "args"), BAD_LAYER3_CALLS)
def test_bad_layer3_input_sends_nothing(case: Case, method: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(PermanentError):
        getattr(case.driver, method)(*args)
    assert case.fake.sent == []


def test_the_mac_table_is_filtered_by_vlan_and_port(case: Case) -> None:
    case.fake.macs = [("00:50:56:ab:cd:ef", 110, case.port), ("00:50:56:ab:00:05", 110, case.other),
                      ("00:50:56:ab:00:04", 120, case.port), ("52:54:00:12:34:56", 100, case.trunk)]  # fmt: skip
    every = [(e.vlan, e.port, e.mac) for e in case.driver.mac_table()]
    assert every == [(100, case.trunk, "52:54:00:12:34:56"), (110, case.port, "00:50:56:ab:cd:ef"),
                     (110, case.other, "00:50:56:ab:00:05"), (120, case.port, "00:50:56:ab:00:04")]  # fmt: skip
    assert [(e.port, e.mac) for e in case.driver.mac_table(vid=110)] == [every[1][1:], every[2][1:]]
    assert [(e.vlan, e.mac) for e in case.driver.mac_table(port=case.port)] == [(110, every[1][2]), (120, every[3][2])]
    assert [e.mac for e in case.driver.mac_table(vid=120, port=case.port)] == ["00:50:56:ab:00:04"]
    assert case.driver.mac_table(vid=130) == [] and case.driver.mac_table(vid=110, port=case.trunk) == []


def test_an_unknown_port_has_no_mac_table(case: Case) -> None:
    with pytest.raises(PermanentError):
        case.driver.mac_table(port=case.unknown)


def test_a_port_reports_its_link(case: Case) -> None:
    assert case.driver.get_port(case.port).link_up is True
    case.fake.port(case.port).link = False
    assert case.driver.get_port(case.port).link_up is False
    # The link is the world's, not the configuration's: a cable pulled is nothing undo puts back.
    before = case.driver.get_port(case.other)
    case.fake.port(case.other).link = not before.link_up
    after = case.driver.get_port(case.other)
    assert after.link_up is not before.link_up and port_differences(before, after) == []
