"""Version parsing for outside systems: compare parsed versions, never strings."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from integrations.errors import PermanentError


def parse_version(system: str, raw: str) -> Version:
    """Parse ``raw`` ("4.7.3", "6.0.14", "v4.7.3-Docker") or raise a :class:`PermanentError` naming ``system``."""
    text = raw.strip().removeprefix("v").split("-", 1)[0]
    try:
        return Version(text)
    except InvalidVersion as e:
        raise PermanentError(system, f"unrecognised version {raw!r}") from e
