"""SOP standards ("Mutu Baku") as the SOPs write them, counted on the office's calendar.

``1 hari`` (or ``1 hari kerja``) is one working day and ``3 jam`` three working hours, as the SOPs' "Mutu Baku"
mean them: time counts only within the office's working
hours, on its working days, outside Indonesia's national holidays and (by default) the government's collective
leave days (*cuti bersama*), from the maintained ``holidays`` library, plus the office's own closures. The short
forms ``1d``, ``3h``, ``30m`` and ``45s`` and ``2 hari kalender`` are calendar time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

Unit = Literal["s", "m", "h", "d", "wh", "wd"]
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "wh": 3600}
_SHORT = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|wh|wd)$")
_INDONESIAN = re.compile(r"^(\d+(?:[.,]\d+)?)\s*(hari kerja|hari kalender|hari|jam kerja|jam|menit)$")
# An SOP's "1 Hari" or "2 jam" is office time: working days and hours; a calendar day must be said so.
_UNIT_OF = {"hari kerja": "wd", "hari": "wd", "hari kalender": "d", "jam kerja": "wh", "jam": "wh", "menit": "m"}
_WORDS = {"wd": "hari kerja", "wh": "jam kerja", "d": "hari kalender", "h": "jam", "m": "menit", "s": "detik"}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Standard:
    """A standard time: ``amount`` of ``unit``; ``wd``/``wh`` count working time only."""

    amount: float
    unit: Unit

    @property
    def working(self) -> bool:
        return self.unit in ("wd", "wh")

    def __str__(self) -> str:
        amount = f"{self.amount:g}"
        return f"{amount} {_WORDS[self.unit]}" if self.unit in ("wd", "wh", "d") else f"{amount}{self.unit}"


def parse_standard(text: str | int | float) -> Standard:
    """``"1 hari"``, ``"1 hari kerja"``, ``"3 jam"`` (working time), ``"2 hari kalender"``, ``"2wd"``, ``"1d"``,
    ``"3h"``, ``"30m"``; a number is seconds."""
    if isinstance(text, int | float):
        return Standard(float(text), "s")
    raw = " ".join(str(text).strip().lower().split())
    if m := _SHORT.match(raw):
        return Standard(float(m.group(1)), m.group(2))  # type: ignore[arg-type]
    if m := _INDONESIAN.match(raw):
        return Standard(float(m.group(1).replace(",", ".")), _UNIT_OF[m.group(2)])  # type: ignore[arg-type]
    raise ValueError(f"standard {text!r} is not like '1 hari', '3 jam', '30 menit', '2 hari kalender', 1d or 3h")


@dataclass(frozen=True)
class OfficeCalendar:
    """An office's working time: zone, working days, hours, holidays (national + collective leave + its own)."""

    timezone: str = "Asia/Jakarta"
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday to Friday
    opens: time = time(8, 0)
    closes: time = time(16, 0)
    country: str = "ID"
    collective_leave: bool = True  # the government's cuti bersama close the offices too
    closed: frozenset[date] = field(default_factory=frozenset)  # the office's own closures

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _holidays(self) -> holidays.HolidayBase:
        categories = ("public", "government") if self.collective_leave else ("public",)
        return holidays.country_holidays(self.country, categories=categories)

    @property
    def day_seconds(self) -> float:
        return (datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)).total_seconds()

    def holiday(self, day: date) -> str | None:
        """Why ``day`` is no working day (a holiday's name), or None."""
        if day in self.closed:
            return "closed"
        name = self._holidays.get(day)
        return str(name) if name else None

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.workdays and self.holiday(day) is None

    def working_seconds(self, start: datetime, end: datetime) -> float:
        """Working time between two instants: the overlap with each working day's hours, in the office's zone."""
        if end <= start:
            return 0.0
        start, end = start.astimezone(self._zone), end.astimezone(self._zone)
        total = 0.0
        day = start.date()
        while day <= end.date():
            if self.is_working_day(day):
                opens = datetime.combine(day, self.opens, self._zone)
                closes = datetime.combine(day, self.closes, self._zone)
                total += max(0.0, (min(end, closes) - max(start, opens)).total_seconds())
            day += timedelta(days=1)
        return total

    def limit(self, standard: Standard) -> float:
        """The standard in seconds of its own measure (working seconds for working units)."""
        if standard.unit == "wd":
            return standard.amount * self.day_seconds
        return standard.amount * _SECONDS[standard.unit]

    def elapsed(self, start: datetime, end: datetime, standard: Standard) -> float:
        """Time from ``start`` to ``end`` as the standard counts it."""
        if standard.working:
            return self.working_seconds(start, end)
        return max(0.0, (end - start).total_seconds())

    def within(self, start: datetime | None, end: datetime | None, standard: Standard) -> bool | None:
        if start is None or end is None:
            return None
        return self.elapsed(_aware(start), _aware(end), standard) <= self.limit(standard)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
