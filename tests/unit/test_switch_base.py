from __future__ import annotations

import pytest

from integrations.errors import PermanentError
from integrations.switches.base import (
    DESCRIPTION_MAX,
    check_gateway_address,
    check_port_name,
    check_vlan,
    mac_address,
    sanitize_description,
)
from integrations.switches.ovs_linux import _ovs_map, _ovs_set


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("srv-disdik-01 (Dinas Pendidikan)", "srv-disdik-01 (Dinas Pendidikan)"),
        ("web\nreload\n", "web reload"),
        ("a\r\nend\r\nwrite erase", "a end write erase"),
        ("x\x1b[2J\x00y", "x [2J y"),
        ('say "hi"; rm -rf / $(id) `id` | tee', "say hi rm -rf / (id) id tee"),
        ("Sekolah Dasar Négeri", "Sekolah Dasar Negeri"),
    ],
)
def test_descriptions_are_one_safe_line(raw: str, clean: str) -> None:
    assert sanitize_description(raw) == clean


def test_description_is_length_limited() -> None:
    assert len(sanitize_description("x" * 500)) == DESCRIPTION_MAX


@pytest.mark.parametrize("vlan", [0, -1, 4095, 10000])
def test_vlan_out_of_range(vlan: int) -> None:
    with pytest.raises(PermanentError, match="out of range"):
        check_vlan(vlan)


def test_vlan_bounds_accepted() -> None:
    assert check_vlan(1) == 1 and check_vlan(4094) == 4094


@pytest.mark.parametrize("name", ["swp1; reboot", "swp1\n", "", "../etc", "x" * 40])
def test_bad_port_names(name: str) -> None:
    with pytest.raises(PermanentError):
        check_port_name(name)


def test_ovsdb_json_values() -> None:
    assert _ovs_set(["set", [10, 20]]) == [10, 20]
    assert _ovs_set(["set", []]) == []
    assert _ovs_set(30) == [30]
    assert _ovs_map(["map", [["description", "srv"]]]) == {"description": "srv"}
    assert _ovs_map(["map", []]) == {}


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("198.18.10.1/24", "198.18.10.1/24"), ("198.18.10.1/255.255.255.0", "198.18.10.1/24"),
     ("10.20.0.254/16", "10.20.0.254/16"), ("198.18.10.2/30", "198.18.10.2/30")],
)  # fmt: skip
def test_gateway_addresses_are_canonical_cidr(text: str, canonical: str) -> None:
    assert check_gateway_address(text) == canonical


@pytest.mark.parametrize(
    ("text", "why"),
    [("198.18.10.0/24", "network address"), ("198.18.10.255/24", "broadcast address"),
     ("198.18.10.3/30", "broadcast"), ("198.18.10.1", "prefix length"), ("198.18.10.1/31", "out of range"),
     ("10.0.0.1/7", "out of range"), ("2001:db8::1/64", "IPv4"), ("224.0.0.5/24", "unicast"),
     ("127.0.0.1/8", "unicast"), ("169.254.0.1/16", "unicast"), ("240.0.0.1/8", "unicast"),
     ("198.18.10.1/24 ; reload", "IPv4"), ("", "IPv4"), ("198.18.10.300/24", "IPv4")],
)  # fmt: skip
def test_gateway_addresses_that_cannot_be_a_gateway(text: str, why: str) -> None:
    with pytest.raises(PermanentError, match=why):
        check_gateway_address(text)


@pytest.mark.parametrize(
    ("text", "mac"),
    [("0050.56AB.cdef", "00:50:56:ab:cd:ef"), ("00:50:56:AB:CD:EF", "00:50:56:ab:cd:ef"),
     ("00-50-56-ab-cd-ef", "00:50:56:ab:cd:ef"), (" 52:54:00:12:34:56 ", "52:54:00:12:34:56"),
     ("0050.56ab.cde", None), ("00:50:56:ab:cd", None), ("00:50-56:ab:cd:ef", None), ("CPU", None)],
)  # fmt: skip
def test_mac_addresses_in_every_form(text: str, mac: str | None) -> None:
    assert mac_address(text) == mac
