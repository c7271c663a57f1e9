"""Dates as an office writes them: "2 Desember 2026, 08.09 WIB", in the office's own time zone (Babel's CLDR data)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

_PATTERN = {"id": "d MMMM y, HH.mm", "en": "d MMMM y, HH:mm"}


def office_date(moment: datetime, timezone: str, language: str) -> str:
    """``moment`` in ``timezone``, spelled in ``language``; the zone as Indonesia names it (WIB, WITA, WIT)."""
    zone = ZoneInfo(timezone)
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    locale = language if language in _PATTERN else "id"
    day = format_datetime(aware, _PATTERN[locale], tzinfo=zone, locale=locale)
    return f"{day} {format_datetime(aware, 'zzz', tzinfo=zone, locale='id')}"
