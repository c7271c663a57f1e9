"""Who may record a person's act on a request in NetBox: the one rule the intake's decisions (disposition, approval,
review) and the steps' records made by people (a technician's delivery record) share.

The act is a tag whose adder the changelog names. It must be someone NetBox knows by name, a member of the NetBox
user group the playbook names, and neither the user who filed the request (added the request tag) nor the one who
created its object when the object was recorded for the request (``trigger.created_for_request``): nobody decides,
or vouches for, their own request.

It sits beside the catalogs, not in the intake: the steps may not reach up into the intake (tests/unit/test_layers).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from agent.i18n import Language, t


def act_time(value: object) -> datetime:
    """A time as NetBox's changelog (or a step's own record of one) writes it, timezone-aware (UTC if it says none)."""
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def self_decided(user: str, requester: str | None, creator: str | None, lang: Language) -> str | None:
    """Why ``user`` may not act on their own request: they tagged it, or they created its object."""
    if requester is not None and user == requester:
        return t("decision.self", lang)
    if creator is not None and user == creator:
        return t("decision.self_creator", lang)
    return None


def decider_refusal(
    user: str | None, group: str | None, requester: str | None, creator: str | None,
    groups_of: Callable[[str], frozenset[str]], lang: Language,
) -> str | None:  # fmt: skip
    """Why ``user`` (None: the changelog does not say) may not make the act a member of ``group`` makes on the
    request ``requester`` filed and ``creator`` created (None: it may), for people in ``lang``. ``groups_of`` is
    asked only for a user that passed the other checks: it costs NetBox a read."""
    if user is None:
        return t("decision.unknown_user", lang)
    if (why := self_decided(user, requester, creator, lang)) is not None:
        return why
    if group and group not in groups_of(user):
        return t("decision.group", lang, group=group)
    return None
