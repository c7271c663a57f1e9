from __future__ import annotations

import pytest

from integrations.errors import PermanentError
from integrations.switches.base import DESCRIPTION_MAX, check_port_name, check_vlan, sanitize_description
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
