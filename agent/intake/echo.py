"""A run's own writes come back as webhook events: on an object a run is working on, an event that touched nothing
the approval covers has nothing for the intake.

A run's every NetBox write on its request object (a tag, the placement, the primary IP, the status) fires the event
rule; each would cost the intake a re-read of the object, more for a status change (the decisions are read again) —
about a third of a colocation's NetBox calls. NetBox's signed event carries the object before and after the change
(``snapshots``): if neither the name, tenant, site nor a request field changed, and a run is active on the object,
the event is answered and dropped. An edit of a request field after the approval still voids the run, whoever made
it (an account shared by a person and dcagent included). Events without both snapshots are always taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent.bootstrap import REQUEST_FIELDS
from agent.engine.registry import ObjectRef

COVERED = ("name", "cid", "tenant", "site")  # what edited_fields compares besides the request's custom fields


def touches_request(snapshots: Mapping[str, Any] | None) -> bool:
    """Whether the change (NetBox's ``prechange``/``postchange`` snapshots) may have changed what an approval covers."""
    pre, post = (snapshots or {}).get("prechange"), (snapshots or {}).get("postchange")
    if not isinstance(pre, Mapping) or not isinstance(post, Mapping):
        return True  # a creation, a deletion, or no snapshots: read the object
    if any(pre.get(key) != post.get(key) for key in COVERED):
        return True
    before, after = pre.get("custom_fields"), post.get("custom_fields")
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return True
    return any(before.get(f) != after.get(f) for f in REQUEST_FIELDS)


def run_echo(busy: Callable[[ObjectRef], bool]) -> Callable[[str, int, Mapping[str, Any] | None], bool]:
    """``(object_type, object_id, snapshots) -> True`` for an event to drop: a run is active on the object and the
    change touched nothing its approval covers."""

    def echo(object_type: str, object_id: int, snapshots: Mapping[str, Any] | None) -> bool:
        return not touches_request(snapshots) and busy(ObjectRef(object_type, object_id))

    return echo
