"""The one intake path shared by webhook, reconciler and CLI: NetBox object → matching playbook runs.

The NetBox object is always re-read (a webhook body may be stale or forged-but-signed-by-mistake); the tags on
the object decide: request tag + approval tag. A finished run removes both (an approval is consumed by one run),
so a handled request never runs twice and a new request on the same object is simply tagged and approved again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.engine.executor import Executor
from agent.engine.playbook import Playbook
from agent.engine.registry import ObjectRef
from integrations.errors import IntegrationError
from integrations.netbox import NetBoxClient, RequestObject

log = logging.getLogger("dcagent.intake")


@dataclass(frozen=True)
class Intake:
    playbook: str
    run_id: str | None
    created: bool
    note: str


def matching(playbooks: Mapping[str, Playbook], obj: RequestObject) -> list[tuple[Playbook, str | None]]:
    """Playbooks whose trigger the object meets, each with why it is skipped (None: it runs)."""
    out: list[tuple[Playbook, str | None]] = []
    for pb in playbooks.values():
        trig = pb.trigger
        if trig is None:  # started by the scheduler or the CLI only
            continue
        if trig.object_type != obj.object_type or trig.tag not in obj.tags:
            continue
        if trig.approval_tag not in obj.tags:
            out.append((pb, f"waiting for tag {trig.approval_tag}"))
        elif trig.status and obj.status != trig.status:
            out.append((pb, f"status is {obj.status}, the playbook needs {trig.status}"))
        else:
            out.append((pb, None))
    return out


class IntakeService:
    def __init__(self, netbox: NetBoxClient, executor: Executor) -> None:
        self.netbox = netbox
        self.executor = executor

    def take(self, obj: RequestObject, trigger: str, submit: bool = True) -> list[Intake]:
        results = []
        for pb, skip in matching(self.executor.playbooks, obj):
            if skip is not None:
                results.append(Intake(pb.name, None, False, skip))
                continue
            assert pb.trigger is not None
            ref = ObjectRef(obj.object_type, obj.id)
            active = self.executor.store.active_run(pb.name, ref)
            if active is not None:  # e.g. the webhook for the run's own change: nothing to read in NetBox
                results.append(Intake(pb.name, active, False, "joined the active run"))
                if submit:
                    self.executor.submit(active)
                continue
            approver, approved_at = self._approval(obj, pb.trigger.approval_tag)
            if (done := self._handled(pb.name, ref, approved_at)) is not None:
                results.append(Intake(pb.name, done, False, "already handled under this approval"))
                continue
            run_id, created = self.executor.create(pb.name, ref, obj.name, trigger, approver, approved_at,
                                                   request=self._approved_values(obj))  # fmt: skip
            if submit:
                self.executor.submit(run_id)
            log.info("request taken", extra={"playbook": pb.name, "object": str(ref), "run": run_id,
                                             "new_run": created, "trigger": trigger})  # fmt: skip
            results.append(Intake(pb.name, run_id, created, "queued" if created else "joined the active run"))
        return results

    def _handled(self, playbook: str, ref: ObjectRef, approved_at: datetime | None) -> str | None:
        """A finished run under the same approval (a stale read racing the run's tag removal): its id."""
        if approved_at is None:
            return None
        for run in self.executor.store.list_runs(playbook=playbook, ref=ref, limit=5):
            same = run.approved_at is not None and abs((run.approved_at - approved_at).total_seconds()) < 1
            if run.finished and same:
                return run.id
        return None

    def _approved_values(self, obj: RequestObject) -> dict[str, Any] | None:
        """The request's values at approval, kept with the run: the object as read, and for a device what its steps
        read of it (type, PSUs, interfaces: agent.steps.request.approved_device)."""
        values: dict[str, Any] = {"object": obj.model_dump(mode="json")}
        if obj.object_type == "dcim.device":
            values["device"] = self.netbox.device_spec(obj.id).model_dump(mode="json")
        return values

    def take_ref(self, object_type: str, object_id: int, trigger: str) -> list[Intake]:
        return self.take(self.netbox.get_object(object_type, object_id), trigger)

    def _approval(self, obj: RequestObject, tag: str) -> tuple[str | None, datetime | None]:
        try:
            found = self.netbox.tag_added(obj.object_type, obj.id, tag)
        except IntegrationError as e:  # the run still proceeds; the journal says the approver is unknown
            log.warning("approval lookup failed", extra={"error": str(e)})
            return None, None
        if found is None:
            return None, None
        return found.username, datetime.fromisoformat(found.time)

    def reconcile(self) -> list[Intake]:
        """One reconciler pass: every approved, unhandled request without an active run gets one."""
        objects: dict[tuple[str, int], RequestObject] = {}
        for pb in self.executor.playbooks.values():
            trig = pb.trigger
            if trig is None:
                continue
            for obj in self.netbox.objects_with_tags(trig.object_type, [trig.tag, trig.approval_tag]):
                objects[(obj.object_type, obj.id)] = obj
        return [r for obj in objects.values() for r in self.take(obj, "reconciler")]
