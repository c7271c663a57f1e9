"""The conformance suite's part for a gateway's neighbours (ARP, issue 31: the verification's finding names the
gateway's ARP entry for the server), run against every switch driver through the CliSession seam, each fake
answering in its platform's format (IOS `show ip arp`, EOS `show ip arp interface Vlan<N>`, the kernel's
`/proc/<zebra's pid>/net/arp` on OVS+FRR)."""

from __future__ import annotations

import pytest

from integrations.errors import PermanentError
from integrations.switches.base import Neighbor
from tests.unit.switches.fakes import FakeIos
from tests.unit.switches.test_conformance import PLATFORM_CASES, Case, load_case

SERVER, OTHER, ELSEWHERE = "52:54:00:aa:bb:01", "52:54:00:aa:bb:02", "52:54:00:aa:bb:03"


@pytest.fixture(params=PLATFORM_CASES)
def case(request: pytest.FixtureRequest) -> Case:
    return load_case(request.param)


def shows_unresolved(case: Case) -> bool:
    """EOS lists resolved entries only; IOS (``Incomplete``) and the Linux kernel list the unresolved too."""
    return not (isinstance(case.fake, FakeIos) and case.fake.eos)


def test_a_gateways_neighbours_are_its_own_resolved_and_unresolved_entries(case: Case) -> None:
    case.driver.ensure_gateway(130, "198.18.30.1/24", "gw")
    case.driver.ensure_gateway(140, "198.18.40.1/24", "gw")
    case.fake.macs = [(SERVER, 130, case.port), (OTHER, 140, case.other)]
    case.fake.neighbors = [("198.18.30.12", SERVER, 130), ("198.18.30.9", None, 130), ("198.18.40.2", OTHER, 140),
                           ("198.18.30.100", ELSEWHERE, 130)]  # fmt: skip
    found = case.driver.gateway_neighbors(130)
    unresolved = [Neighbor(ip="198.18.30.9", mac=None, state="unresolved")] if shows_unresolved(case) else []
    assert found == [*unresolved, Neighbor(ip="198.18.30.12", mac=SERVER, state="resolved"),
                     Neighbor(ip="198.18.30.100", mac=ELSEWHERE, state="resolved")]  # fmt: skip
    assert case.driver.gateway_neighbors(140) == [Neighbor(ip="198.18.40.2", mac=OTHER, state="resolved")]


def test_a_vlan_without_a_gateway_here_has_no_neighbours(case: Case) -> None:
    case.fake.neighbors = [("198.18.30.12", SERVER, 130)]
    assert case.driver.gateway_neighbors(130) == []


def test_a_table_the_session_may_not_read_is_not_available_not_an_error(case: Case) -> None:
    case.driver.ensure_gateway(130, "198.18.30.1/24", "gw")
    case.fake.neighbors = [("198.18.30.12", SERVER, 130)]
    case.fake.arp_refused = True
    assert case.driver.gateway_neighbors(130) is None


@pytest.mark.parametrize("vlan", [0, 4095])
def test_an_out_of_range_vlan_sends_nothing(case: Case, vlan: int) -> None:
    with pytest.raises(PermanentError, match="out of range"):
        case.driver.gateway_neighbors(vlan)
    assert case.fake.sent == []
