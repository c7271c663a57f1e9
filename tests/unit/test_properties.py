"""Bad input, by property (issue 12): the parsers and arithmetic an attacker who can edit a NetBox field reaches —
rack positions, retention, schedules, switch descriptions, office time — hold for any input Hypothesis makes: a
clear ValueError or a right answer, never another exception or a wrong one."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.domain.capacity import blocked_units, free_positions
from agent.engine.calendar import OfficeCalendar, parse_standard
from agent.engine.schedules import schedule_problem
from agent.steps.backup import parse_retention
from integrations.netbox import Occupant, RackInfo
from integrations.switches.base import DESCRIPTION_MAX, sanitize_description

NOW = datetime(2026, 12, 3, 8, tzinfo=UTC)


@st.composite
def racks(draw: st.DrawFn) -> RackInfo:
    height = draw(st.integers(1, 48))
    occupants = []
    for i in range(draw(st.integers(0, 8))):
        size = draw(st.integers(1, 4))
        position = draw(st.integers(1, height))
        face = draw(st.sampled_from(["front", "rear", None]))
        occupants.append(Occupant(position=position, height=size, face=face, label=f"o{i}"))
    return RackInfo(id=1, name="R01", site="dc-batam", u_height=height, descending=False, occupants=tuple(occupants))


@given(racks(), st.integers(1, 6), st.sampled_from(["front", "rear"]), st.booleans())
def test_every_free_position_fits_and_none_is_missed(rack: RackInfo, height: int, face: str, deep: bool) -> None:
    found = free_positions(rack, height, face, deep)
    blocked = blocked_units(rack, face, deep)
    fits = [p for p in range(1, rack.u_height + 1)
            if p + height - 1 <= rack.u_height and not blocked & set(range(p, p + height))]  # fmt: skip
    assert found == fits  # exactly the positions whose units are inside the rack and unblocked, bottom-up


@given(st.text(max_size=200))
def test_a_description_never_carries_a_second_command(text: str) -> None:
    clean = sanitize_description(text)
    assert len(clean) <= DESCRIPTION_MAX and clean == clean.strip()
    assert all(ch in string.printable and ch not in "\n\r\t\x0b\x0c\"'`\\;|$" for ch in clean)
    assert sanitize_description(clean) == clean  # stable: sanitising twice changes nothing


@given(st.text(max_size=60))
def test_retention_is_parsed_or_refused_with_a_reason(text: str) -> None:
    try:
        retention = parse_retention(text)
    except ValueError:
        return
    args = retention.args()
    assert all(not a.startswith("-") or a.startswith("--keep-") for a in args)  # no option of the caller's choosing
    assert all(a.lstrip("-").replace("-", "").isalnum() or a == retention.within for a in args)


FIELD = st.one_of(st.just("*"), st.integers(0, 70).map(str), st.text(alphabet="0123456789*/,-", min_size=1,
                                                                      max_size=6))  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FIELD, min_size=1, max_size=6).map(" ".join))
def test_a_schedule_is_used_or_refused_with_a_reason(expression: str) -> None:
    problem = schedule_problem(expression, "Asia/Jakarta", NOW, min_interval=3600)
    assert problem is None or (isinstance(problem, str) and problem)  # never an exception


@settings(deadline=None)  # the first look at a year loads its holidays
@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC)),
       st.integers(0, 20 * 86400), st.integers(0, 20 * 86400))  # fmt: skip
def test_office_time_adds_up_and_never_exceeds_calendar_time(start: datetime, a: int, b: int) -> None:
    cal = OfficeCalendar()
    middle, end = start + timedelta(seconds=a), start + timedelta(seconds=a + b)
    whole = cal.working_seconds(start, end)
    assert abs(whole - (cal.working_seconds(start, middle) + cal.working_seconds(middle, end))) < 1e-6
    assert 0 <= whole <= (end - start).total_seconds()


@given(st.text(max_size=30))
def test_a_standard_is_read_or_refused_with_a_reason(text: str) -> None:
    try:
        standard = parse_standard(text)
    except ValueError as e:
        assert "is not like" in str(e)
        return
    assert standard.amount >= 0 and OfficeCalendar().limit(standard) >= 0
