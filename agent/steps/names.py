"""Names that come from NetBox fields and reach other systems: validated before anything is changed.

A host name published in DNS must be a host inside the configured zone: not the zone's apex (that would replace
the zone's own address), not a wildcard (it would answer for every name in the zone), and by the label rules of
RFC 1035/1123 (letters, digits and hyphens; 1–63 characters per label, 253 in all; no hyphen at either end).
"""

from __future__ import annotations

import re
from typing import Literal

FqdnProblem = Literal["empty", "wildcard", "characters", "label", "length", "apex", "outside"]

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_NAME = 253


def normalise_fqdn(value: object) -> str:
    """The name as NetBox holds it, lower-cased, without the root dot and surrounding blanks."""
    return str(value or "").strip().rstrip(".").lower()


def fqdn_problem(fqdn: str, zone: str) -> FqdnProblem | None:
    """Why ``fqdn`` (normalised) cannot be published as a host in ``zone``, or None when it can."""
    zone = normalise_fqdn(zone)
    if not fqdn:
        return "empty"
    if "*" in fqdn:
        return "wildcard"
    if not re.fullmatch(r"[a-z0-9.-]+", fqdn):
        return "characters"
    if len(fqdn) > MAX_NAME:
        return "length"
    if any(not _LABEL.match(label) for label in fqdn.split(".")):
        return "label"
    if fqdn == zone:
        return "apex"
    if not fqdn.endswith("." + zone):
        return "outside"
    return None
