"""Cabling a server to its ToR switch when someone outside this agent's locks (a person in NetBox, another agent)
cables the chosen port between the read and the write: NetBox refuses the duplicate termination and the next free
port is taken; any other refusal is raised, not papered over."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from agent.engine.errors import StepInputError
from agent.steps.switchport import PORT_TRIES, _cable_free_port
from integrations.errors import ConflictError, PermanentError
from integrations.netbox import PortRef, SwitchRef

SW = SwitchRef(id=3, name="tor-btm-01", site="dc-batam", rack_id=1, platform=None, host=None, ssh_port=None)


def _taken(port_id: int) -> PermanentError:
    return PermanentError("NetBox", "create cable: HTTP 400: {'__all__': ['Duplicate termination found for "
                                    f"dcim.interface {port_id}: cable 777']}}")  # fmt: skip


@dataclass
class Switch:
    free: list[int]
    taken_meanwhile: set[int] = field(default_factory=set)
    refusal: PermanentError | None = None
    cabled: list[tuple[int, int]] = field(default_factory=list)

    def free_access_ports(self, switch_id: int) -> list[PortRef]:
        return [PortRef(id=i, device_id=switch_id, device=SW.name, name=f"swp{i}") for i in self.free]

    def cable(self, a_interface: int, b_interface: int, label: str, run_id: str) -> int:
        if self.refusal is not None:
            raise self.refusal
        if b_interface in self.taken_meanwhile:  # as the adapter reports NetBox's refusal (test_netbox_adapter)
            raise ConflictError("NetBox", f"create cable: interface {b_interface} is already cabled")
        self.cabled.append((a_interface, b_interface))
        return 900 + b_interface


def test_the_first_free_port_is_cabled() -> None:
    sw = Switch(free=[11, 12])
    port, cable = _cable_free_port(sw, SW, 50, "srv:eth0", "run-1") or (None, None)  # type: ignore[arg-type]
    assert (port.id if port else None, cable, sw.cabled) == (11, 911, [(50, 11)])


def test_a_port_taken_between_the_read_and_the_write_moves_the_cable_to_the_next() -> None:
    sw = Switch(free=[11, 12, 13], taken_meanwhile={11, 12})
    found = _cable_free_port(sw, SW, 50, "srv:eth0", "run-1")  # type: ignore[arg-type]
    assert found is not None and (found[0].id, found[1], sw.cabled) == (13, 913, [(50, 13)])


def test_no_free_port_is_none_and_all_tried_ports_taken_is_an_error() -> None:
    assert _cable_free_port(Switch(free=[]), SW, 50, "l", "r") is None  # type: ignore[arg-type]
    ports = list(range(11, 11 + PORT_TRIES + 2))
    with pytest.raises(StepInputError, match="taken while cabling"):
        _cable_free_port(Switch(free=ports, taken_meanwhile=set(ports)), SW, 50, "l", "r")  # type: ignore[arg-type]


def test_a_refusal_about_the_servers_own_interface_is_raised_not_retried_on_other_ports() -> None:
    sw = Switch(free=[11, 12], refusal=_taken(50))
    with pytest.raises(PermanentError, match=r"dcim\.interface 50"):
        _cable_free_port(sw, SW, 50, "l", "r")  # type: ignore[arg-type]


def test_the_port_placement_chose_is_cabled_without_reading_the_switchs_ports() -> None:
    from agent.steps.switchport import _cable_chosen_port

    state = {"mode": "access", "untagged_vlan": None, "description": "", "enabled": False}
    placed = {"switch": {"id": 3, "name": SW.name, "port": "swp11", "port_id": 11, "port_state": state}}
    sw = Switch(free=[])  # a read of the free ports would find none: it is not made
    found = _cable_chosen_port(sw, SW, placed, 50, "l", "r")  # type: ignore[arg-type]
    assert found is not None and (found[0].name, found[0].enabled, found[1]) == ("swp11", False, 911)
    taken = Switch(free=[12], taken_meanwhile={11})  # taken since placement: the caller reads the free ports
    assert _cable_chosen_port(taken, SW, placed, 50, "l", "r") is None  # type: ignore[arg-type]
    assert _cable_chosen_port(sw, SW, {"switch": {"id": 3}}, 50, "l", "r") is None  # type: ignore[arg-type]
