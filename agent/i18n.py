"""Messages for people: Bahasa Indonesia by default, English available. Code and logs stay English.

The texts are gettext catalogs (``agent/locale/<lang>/LC_MESSAGES/dcagent.po``), keyed by the message's name in
the code, so that an office can correct a wording with the tools translators use, without touching code.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from babel.messages.pofile import read_po

Language = Literal["id", "en"]

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "dcagent"
_override: Path | None = None


def use_locale_dir(path: Path | None) -> None:
    """An office's own catalogs (``<path>/<lang>/LC_MESSAGES/dcagent.po``, setting ``locale_dir``): their
    non-empty entries win over the shipped ones."""
    global _override
    if path != _override:
        _override = path
        catalog.cache_clear()


@cache
def catalog(lang: Language) -> dict[str, str]:
    """The language's messages by key: the shipped gettext catalog, then the office's corrections."""
    messages = _read(LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po")
    if _override is not None and (own := _override / lang / "LC_MESSAGES" / f"{DOMAIN}.po").is_file():
        messages |= {k: v for k, v in _read(own).items() if v}
    return messages


def _read(path: Path) -> dict[str, str]:
    with path.open("rb") as f:
        found = read_po(f, domain=DOMAIN)
    return {m.id: m.string for m in found if isinstance(m.id, str) and m.id and isinstance(m.string, str)}


def t(key: str, lang: Language, /, **values: object) -> str:
    text = catalog(lang).get(key) or catalog("en")[key]
    return text.format(**values) if values else text


def status_label(status: str, lang: Language) -> str:
    """A run's or step's status for people (``status.<status>`` in the catalogs), else the status itself."""
    return catalog(lang).get(f"status.{status}") or catalog("en").get(f"status.{status}") or status
