"""A run's own writes come back as webhook events: on an object a run is working on, an event that touched nothing
the approval covers has nothing for the intake.

A run's every NetBox write on its request object (a tag, the placement, the primary IP, the status) fires the event
rule; each would cost the intake a re-read of the object, more for a status change (the decisions are read again) —
about a third of a colocation's NetBox calls. NetBox's signed event carries the object before and after the change
(``snapshots``): if neither the name, tenant, site nor a request field changed, and a run is active on the object,
the event is answered and dropped. An edit of a request field after the approval still voids the run, whoever made
it (an account shared by a person and dcagent included). A tag added or taken off by a person (a technician's
record a step waits for, the request tag removed to withdraw it) is always taken; the outcome tags a run sets are
its echo. Events without both snapshots are always taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent.engine.registry import ObjectRef
from agent.setup.contract import OTHER_TAGS, REQUEST_FIELDS

COVERED = ("name", "cid", "tenant", "site")  # what edited_fields compares besides the request's custom fields
# The outcome tags runs set (agent.runtime.tracker), by exact name: their changes are a run's echo (a person's tag
# that only looks like one is a person's).
OWN_TAGS = frozenset(tag for tag in OTHER_TAGS if tag.startswith("dcagent-"))


def _people_tags(snapshot: Mapping[str, Any]) -> frozenset[str] | None:
    """The object's tags but dcagent's own outcome tags (``dcagent-*``): what people add and remove. NetBox's
    snapshots list tags by name (dcagent names its tags by their slug); None if the snapshot does not say."""
    tags = snapshot.get("tags")
    if not isinstance(tags, list):
        return None
    names = (str(t.get("slug") or t.get("name")) if isinstance(t, Mapping) else str(t) for t in tags)
    return frozenset(n for n in names if n not in OWN_TAGS)


def touches_request(snapshots: Mapping[str, Any] | None) -> bool:
    """Whether the change (NetBox's ``prechange``/``postchange`` snapshots) may have changed what an approval covers."""
    pre, post = (snapshots or {}).get("prechange"), (snapshots or {}).get("postchange")
    if not isinstance(pre, Mapping) or not isinstance(post, Mapping):
        return True  # a creation, a deletion, or no snapshots: read the object
    if any(pre.get(key) != post.get(key) for key in COVERED) or _people_tags(pre) != _people_tags(post):
        return True
    before, after = pre.get("custom_fields"), post.get("custom_fields")
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return True
    return any(before.get(f) != after.get(f) for f in REQUEST_FIELDS)


def people_acted(
    snapshots: Mapping[str, Any] | None,
) -> tuple[frozenset[str], frozenset[str], frozenset[str]] | None:
    """(people's tags added, removed, after) if the change touched nothing else an approval covers; else None."""
    pre, post = (snapshots or {}).get("prechange"), (snapshots or {}).get("postchange")
    if not isinstance(pre, Mapping) or not isinstance(post, Mapping):
        return None
    before, after = _people_tags(pre), _people_tags(post)
    if before is None or after is None or touches_request({"prechange": {**pre, "tags": []},
                                                           "postchange": {**post, "tags": []}}):  # fmt: skip
        return None
    return after - before, before - after, after


def run_echo(
    busy: Callable[[ObjectRef], bool],
    wake: Callable[[ObjectRef], None] | None = None,
    wait_tags: frozenset[str] = frozenset(),
    request_tags: frozenset[str] = frozenset(),
) -> Callable[[str, int, Mapping[str, Any] | None], bool]:
    """``(object_type, object_id, snapshots) -> True`` for an event handled without the intake: a run is active on
    the object and the change touched nothing its approval covers (dropped), or only added tags some waiting step
    looks for (``wait_tags``: a technician's record) while a request tag (``request_tags``) stays: ``wake`` makes
    the object's waits for people look now; a wait tag only taken off (a look refusing a record does it) is the
    run's echo. A decision, a withdrawal (the request tag taken off), an edit go to the intake, which reads the
    object."""

    def echo(object_type: str, object_id: int, snapshots: Mapping[str, Any] | None) -> bool:
        ref = ObjectRef(object_type, object_id)
        change = people_acted(snapshots)
        if change is None:
            return not touches_request(snapshots) and busy(ref)
        added, removed, after = change
        if not added and (not removed or removed <= wait_tags):
            return busy(ref)
        if wake is None or removed or not added <= wait_tags or not after & request_tags or not busy(ref):
            return False
        wake(ref)
        return True

    return echo
