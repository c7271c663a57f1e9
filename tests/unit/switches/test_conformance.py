"""One conformance suite, run against every switch driver (NAPALM-style), through the CliSession seam."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from integrations.errors import PermanentError
from integrations.switches import DRIVERS
from integrations.switches.base import SwitchDriver
from tests.unit.switches.fakes import FakeIos, FakeOvs


@dataclass
class Case:
    driver: SwitchDriver
    fake: Any
    port: str
    other: str


def _ios() -> Case:
    fake = FakeIos(["GigabitEthernet1/0/4", "GigabitEthernet1/0/5"])
    return Case(DRIVERS["cisco_ios"](fake, "sw-ios"), fake, "GigabitEthernet1/0/4", "GigabitEthernet1/0/5")


def _eos() -> Case:
    fake = FakeIos(["Ethernet4", "Ethernet5"], eos=True)
    return Case(DRIVERS["arista_eos"](fake, "sw-eos"), fake, "Ethernet4", "Ethernet5")


def _ovs() -> Case:
    fake = FakeOvs(["swp4", "swp5"])
    return Case(DRIVERS["ovs_linux"](fake, "sw-ovs"), fake, "swp4", "swp5")


FACTORIES: dict[str, Callable[[], Case]] = {"cisco_ios": _ios, "arista_eos": _eos, "ovs_linux": _ovs}


@pytest.fixture(params=sorted(FACTORIES))
def case(request: pytest.FixtureRequest) -> Case:
    return FACTORIES[request.param]()


def test_every_platform_has_a_conformance_case() -> None:
    assert set(FACTORIES) == set(DRIVERS)


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
    unknown = {"cisco_ios": "GigabitEthernet9/0/9", "arista_eos": "Ethernet99", "ovs_linux": "swp99"}[
        case.driver.platform
    ]
    with pytest.raises(PermanentError):
        case.driver.get_port(unknown)


def test_running_config_and_save(case: Case) -> None:
    case.driver.configure_access_port(case.port, 130, "x")
    assert case.port in case.driver.running_config()
    case.driver.save()
    case.driver.close()
    if case.driver.platform != "ovs_linux":
        assert case.fake.saves == 1


def test_platform_port_names_are_checked() -> None:
    with pytest.raises(PermanentError, match="not a cisco_ios access port name"):
        _ios().driver.get_port("swp4")
    with pytest.raises(PermanentError, match="not a arista_eos access port name"):
        _eos().driver.get_port("GigabitEthernet1/0/4")
