"""Names that come from NetBox fields and reach other systems: validated before anything is changed.

A host name published in DNS must be a host inside the configured zone: not the zone's apex (that would replace
the zone's own address), not a wildcard (it would answer for every name in the zone), and by the label rules of
RFC 1035/1123 (letters, digits and hyphens; 1–63 characters per label, 253 in all; no hyphen at either end).

A device's NetBox name is carried as is to Zabbix (the technical host name, and the host zabbix_sender reports
to), the switch port's description, restic's ``--host`` and the documents; dcagent and people find each again by
that name. One rule, what all of those systems take as it is (ASCII letters, digits, hyphens, dots and
underscores, 1–63 characters, beginning and ending with a letter or digit: no space, no accent, nothing a CLI reads
specially), is checked when a request is validated, and every system then takes the name unchanged (the DNS name is
its own field, ``dcagent_fqdn``, held to the label rules below): nothing transliterates it (issue 30:
``accA-sérvér-ñ-d9f0`` became ``accA-s_rv_r-_-d9f0`` in Zabbix and ``accA-server-n-d9f0`` on the switch, and
lookups by name missed the host).
"""

from __future__ import annotations

import re
from typing import Literal

from agent.engine.errors import StepInputError
from agent.i18n import Language, t

FqdnProblem = Literal["empty", "wildcard", "characters", "label", "length", "apex", "outside"]
NameProblem = Literal["empty", "characters", "edge", "length"]

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]+")
MAX_NAME = 253
MAX_LABEL = 63


def name_problem(name: str) -> NameProblem | None:
    """Why a device's name cannot reach every system unchanged (see the module's docstring), or None."""
    if not name:
        return "empty"
    if not _NAME_CHARS.fullmatch(name):  # fullmatch: a trailing newline is refused too
        return "characters"
    if len(name) > MAX_LABEL:
        return "length"
    if not (name[0].isalnum() and name[-1].isalnum()):  # "-srv", ".srv", "srv_": read as options or hidden files
        return "edge"
    return None


def name_refusal(name: str, lang: Language) -> str | None:
    """The rule's refusal of ``name`` for people (the rejection letter, the journal), or None when it passes."""
    problem = name_problem(name)
    shown = " ".join(name.split())[:80]  # one line, bounded: the name goes into a journal entry and a letter
    return None if problem is None else t(f"name.{problem}", lang, name=shown, max=MAX_LABEL)


# Zabbix's technical host name: ASCII letters, digits, space, dot, dash and underscore, up to 128 characters.
_ZABBIX_HOST = re.compile(r"[A-Za-z0-9_. -]{1,128}")


def zabbix_host_refusal(name: str) -> str | None:
    """Why Zabbix cannot take ``name`` unchanged as a host's technical name (English: the sync's report), or None.

    The Zabbix sync also follows devices and VMs that were never requested through dcagent: they keep names Zabbix
    takes as they are (``srv_app.01``), though a request's stricter rule refuses them; a name Zabbix would refuse
    (``accA-sérvér-ñ``) is reported, never transliterated."""
    if _ZABBIX_HOST.fullmatch(name) and name.strip() == name:
        return None
    shown = " ".join(name.split())[:80]
    return f"the name {shown!r} is not a Zabbix host name as it is (ASCII letters, digits, '.', '-', '_', space)"


def system_name(name: str) -> str:
    """The name every system is given: the NetBox name itself, once the rule accepts it. A name the rule refuses is
    an input error here (a path that skipped validation), never a transliteration."""
    if (problem := name_refusal(name, "en")) is not None:
        raise StepInputError(problem)
    return name


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
