"""A placed device's PSUs are cabled to the rack's A and B PDUs: on a first attempt both cables in one request
(NetBox creates a list in one transaction); if NetBox refuses (an outlet taken meanwhile), nothing was created and
each PSU is cabled on its own, to the PDU's next free outlet."""

from __future__ import annotations

from typing import Any

from agent.steps.placement import _connect_power
from integrations.errors import PermanentError


class NetBox:
    def __init__(self, refuse_bulk: bool) -> None:
        self.refuse_bulk = refuse_bulk
        self.calls: list[Any] = []
        self.taken = {501}

    def power_cables(self, pairs: list[tuple[int, int]], run_id: str) -> list[int]:
        self.calls.append(("bulk", pairs))
        if self.refuse_bulk:
            raise PermanentError("NetBox", "Duplicate termination found for dcim.poweroutlet:501")
        return [900 + i for i, _ in enumerate(pairs)]

    def power_ports(self, device_id: int) -> list[tuple[int, str, int | None]]:
        self.calls.append("ports")
        return [(11, "PSU1", None), (12, "PSU2", None)]

    def power_cable(self, port: int, outlet: int, run_id: str) -> int:
        self.calls.append(("one", port, outlet))
        if outlet in self.taken:
            raise PermanentError("NetBox", f"Duplicate termination found for dcim.poweroutlet:{outlet}")
        return 800 + port

    def free_outlet(self, pdu_id: int) -> int:
        self.calls.append(("free", pdu_id))
        return 502


def test_both_psus_in_one_request_on_a_first_attempt() -> None:
    nb = NetBox(refuse_bulk=False)
    assert _connect_power(nb, 7, 1, "r1", [[61, 501], [62, 601]], psu_ids=(11, 12)) == [900, 901]  # type: ignore[arg-type]
    assert nb.calls == [("bulk", [(11, 501), (12, 601)])]


def test_a_refused_request_falls_back_to_one_cable_per_psu_with_the_next_free_outlet() -> None:
    nb = NetBox(refuse_bulk=True)
    assert _connect_power(nb, 7, 1, "r1", [[61, 501], [62, 601]], psu_ids=(11, 12)) == [811, 812]  # type: ignore[arg-type]
    assert nb.calls[1:] == ["ports", ("one", 11, 501), ("free", 61), ("one", 11, 502), ("one", 12, 601)]


def test_a_retry_reads_the_ports_and_keeps_the_cables_it_finds() -> None:
    nb = NetBox(refuse_bulk=False)
    assert _connect_power(nb, 7, 1, "r1", [[61, 501], [62, 601]]) != []  # type: ignore[arg-type]
    assert nb.calls[0] == "ports" and not any(c[0] == "bulk" for c in nb.calls if isinstance(c, tuple))
