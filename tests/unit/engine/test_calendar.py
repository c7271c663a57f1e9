"""SOP standards on the office's calendar: working days and hours, Indonesia's holidays and collective leave."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from agent.engine.calendar import OfficeCalendar, Standard, parse_standard
from agent.engine.playbook import CalendarSpec

WIB = OfficeCalendar()  # Asia/Jakarta, Monday to Friday 08:00-16:00, national holidays and cuti bersama


def wib(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h - 7, mi, tzinfo=UTC)  # WIB is UTC+7


@pytest.mark.parametrize(
    ("text", "standard"),
    [
        ("1 hari kerja", Standard(1, "wd")),
        ("3 jam", Standard(3, "wh")),
        ("2 Jam  Kerja", Standard(2, "wh")),
        ("30 menit", Standard(30, "m")),
        ("1 Hari", Standard(1, "wd")),  # as the SOPs write their standards: office time
        ("1,5 hari kalender", Standard(1.5, "d")),
        ("2wd", Standard(2, "wd")),
        ("3h", Standard(3, "h")),
        (45, Standard(45, "s")),
    ],
)
def test_standards_are_read_as_the_sops_write_them(text: str | int, standard: Standard) -> None:
    assert parse_standard(text) == standard


@pytest.mark.parametrize("bad", ["soon", "2 weeks", "-1d", "1 hari libur", ""])
def test_a_standard_not_understood_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not like"):
        parse_standard(bad)


def test_a_working_day_skips_the_weekend() -> None:
    # Friday 2026-11-27 15:00 WIB to Monday 2026-11-30 15:00 WIB: 1 h on Friday + 7 h on Monday = one working day.
    start, end = wib(2026, 11, 27, 15), wib(2026, 11, 30, 15)
    assert WIB.working_seconds(start, end) == 8 * 3600
    assert WIB.within(start, end, Standard(1, "wd")) is True
    assert WIB.within(start, end + timedelta(minutes=1), Standard(1, "wd")) is False
    assert WIB.within(start, end, Standard(1, "d")) is False  # three calendar days


def test_holidays_and_collective_leave_do_not_count() -> None:
    # Nyepi and Idul Fitri 2026: from Wednesday 18 March (cuti bersama) to Tuesday 24 March no office is open.
    closed = [date(2026, 3, d) for d in range(18, 25)]
    assert all(WIB.holiday(d) for d in closed) and "Idul Fitri" in str(WIB.holiday(date(2026, 3, 21)))
    # Tuesday 17 March 15:00 to Wednesday 25 March 15:00 WIB: 1 h + 7 h = one working day, eight calendar days.
    start, end = wib(2026, 3, 17, 15), wib(2026, 3, 25, 15)
    assert WIB.working_seconds(start, end) == 8 * 3600 and WIB.within(start, end, parse_standard("1 hari kerja"))
    without_leave = OfficeCalendar(collective_leave=False)  # cuti bersama close an office only by its choice
    assert [d.day for d in closed if without_leave.is_working_day(d)] == [18, 20, 23, 24]


def test_working_hours_count_only_office_hours_in_the_office_zone() -> None:
    wita = CalendarSpec(timezone="Asia/Makassar", hours="07:30-16:00").office()
    # 15:00–09:00 WITA next morning (Tuesday 2026-12-01 → Wednesday): 1 h + 1.5 h.
    start = datetime(2026, 12, 1, 7, tzinfo=UTC)  # 15:00 WITA (UTC+8)
    assert wita.working_seconds(start, start + timedelta(hours=18)) == 2.5 * 3600
    assert wita.within(start, start + timedelta(hours=18), Standard(3, "wh")) is True
    closed = CalendarSpec(closed=(date(2026, 12, 2),)).office()
    assert closed.holiday(date(2026, 12, 2)) == "closed"


def test_a_calendar_that_cannot_be_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        CalendarSpec(timezone="Asia/Batam")
    with pytest.raises(ValueError, match="open before"):
        CalendarSpec(hours="16:00-08:00")
