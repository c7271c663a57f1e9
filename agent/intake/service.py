"""The one intake path shared by webhook, reconciler and CLI: NetBox object → matching playbook runs.

The NetBox object is always re-read (a webhook body may be stale or forged-but-signed-by-mistake); the tags on
the object decide: request tag + approval tag. A finished run removes both (an approval is consumed by one run),
so a handled request never runs twice and a new request on the same object is simply tagged and approved again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from agent.engine.executor import Executor
from agent.engine.playbook import Playbook
from agent.engine.registry import ObjectRef
from agent.i18n import t
from agent.intake.decisions import ChainState, check_chain
from agent.intake.planning import Planner
from agent.intake.reviews import ReviewDesk
from agent.setup.contract import REQUEST_FIELDS
from integrations.errors import IntegrationError
from integrations.netbox import NetBoxClient, NetBoxUser, RequestHistory, RequestObject

log = logging.getLogger("dcagent.intake")


@dataclass(frozen=True)
class Intake:
    playbook: str
    run_id: str | None
    created: bool
    note: str


def matching(
    playbooks: Mapping[str, Playbook], obj: RequestObject, region_of: Callable[[str], str | None] = lambda _s: None
) -> list[tuple[Playbook, str | None]]:
    """Playbooks whose trigger the object meets, each with why it is skipped (None: it runs). ``region_of``: a
    site's region slug, asked only for a playbook scoped by region."""
    out: list[tuple[Playbook, str | None]] = []
    for pb in playbooks.values():
        trig = pb.trigger
        if trig is None or pb.stage == "plan":  # started by the scheduler or the CLI only; a plan by its playbook
            continue
        if trig.object_type != obj.object_type or trig.tag not in obj.tags:
            continue
        if trig.scoped and not trig.serves(obj.site, region_of(obj.site) if obj.site and trig.regions else None):
            continue  # another office's request
        if trig.approval_tag not in obj.tags:
            out.append((pb, f"waiting for tag {trig.approval_tag}"))
        elif trig.status and obj.status != trig.status:
            out.append((pb, f"status is {obj.status}, the playbook needs {trig.status}"))
        else:
            out.append((pb, None))
    return out


def _comparable(value: Any) -> Any:
    # An object custom field (e.g. the VLAN) is compared by id: its display text may change without the choice.
    return value.get("id") if isinstance(value, Mapping) else value


def edited_fields(approved: RequestObject, now: RequestObject) -> list[str]:
    """The request's fields that differ from their approved values (what dcagent itself writes is not one)."""
    changed = [f for f in ("name", "tenant", "site") if getattr(approved, f) != getattr(now, f)]
    before, after = approved.custom_fields, now.custom_fields
    changed += sorted(f for f in REQUEST_FIELDS if _comparable(before.get(f)) != _comparable(after.get(f)))
    return changed


WAKES = ("webhook", "cli")  # the triggers that make a wait for a person's act look at once


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


class IntakeService:
    def __init__(self, netbox: NetBoxClient, executor: Executor) -> None:
        self.netbox = netbox
        self.executor = executor
        self.reviews = ReviewDesk(netbox, executor.store, executor.language)
        self.planner = Planner(netbox, executor, edited_fields)

    def _reviews(self, obj: RequestObject) -> list[Intake]:
        """A closing review on the object, for the playbooks of its office that declare one."""
        due = []
        for pb in self.executor.playbooks.values():
            trig = pb.trigger
            if trig is None or pb.stage == "plan" or trig.review is None or trig.object_type != obj.object_type:
                continue
            if trig.review.tag not in obj.tags:
                continue
            if trig.scoped and not trig.serves(obj.site, self.netbox.site_region(obj.site) if obj.site else None):
                continue
            due.append(pb)
        # a review starts nothing: no run id (the CLI's `run` would wait on it)
        return [Intake(o.playbook, None, False, o.note) for o in self.reviews.take(obj, due)] if due else []

    def take(self, obj: RequestObject, trigger: str, submit: bool = True) -> list[Intake]:
        results: list[Intake] = self._reviews(obj) + self._withdrawn(obj, submit)
        matched = matching(self.executor.playbooks, obj, lambda site: self.netbox.site_region(site))
        if len(starting := [pb for pb, skip in matched if skip is None]) > 1:
            return self._ambiguous(obj, starting)
        for pb, skip in matched:
            assert pb.trigger is not None
            ref = ObjectRef(obj.object_type, obj.id)
            # An active run is joined whatever the object looks like now: its request was approved and frozen when it
            # started, and its own steps change what the trigger reads (a colocation sets the device active; an
            # agent killed after that must still be able to finish it).
            active = self.executor.store.active_run(pb.name, ref)
            if active is not None:  # e.g. the webhook for the run's own change: nothing more to read in NetBox
                voided = self._void_if_edited(active, obj)
                results.append(Intake(pb.name, active, False, voided or "joined the active run"))
                # A change to the object may be the act a waiting step waits for (the technician's delivery record,
                # a retry decision), and a person's `dcagent run` asks for a look: the step looks now, not at its
                # next poll minutes later. The reconciler's sweep is neither: it would turn every poll into its own.
                if trigger in WAKES and self.executor.store.wake_people_waits(active, self.executor.clock.now()):
                    log.info("a wait for people looks again: its object changed", extra={"run": active})
                if submit:
                    self.executor.submit(active)
                continue
            if skip is not None and not (pb.trigger.decisions and set(obj.tags) & {d.tag for d in pb.trigger.chain}):
                results.append(Intake(pb.name, None, False, skip))
                continue
            state = self._chain(pb, obj)
            if pb.plan is not None and not isinstance(state, str):
                values = partial(self._approved_values, obj, state)
                if (staged := self.planner.take(pb, obj, state, values, trigger, submit)) is not None:
                    results.append(Intake(*staged))
                    continue
            if isinstance(state, str) or not state.complete:
                results.append(Intake(pb.name, None, False, self._not_yet(pb, obj, state, skip)))
                continue
            if skip is not None:  # every decision made, yet e.g. the status is not the playbook's
                results.append(Intake(pb.name, None, False, skip))
                continue
            results.append(self._start(pb, obj, ref, state, trigger, submit))
        return results

    def _start(
        self, pb: Playbook, obj: RequestObject, ref: ObjectRef, state: ChainState, trigger: str, submit: bool
    ) -> Intake:
        approval = state.approval
        approver, approved_at = (approval.user, approval.time) if approval else (None, None)
        if (done := self._handled(pb.name, ref, approved_at)) is not None:
            return Intake(pb.name, done, False, "already handled under this approval")
        values = self._approved_values(obj, state)
        if pb.plan is not None and values is not None:  # what the approver saw: the plan's results
            values["plan"] = self.planner.outputs(pb, ref)
        run_id, created = self.executor.create(pb.name, ref, obj.name, trigger, approver, approved_at, request=values)
        if submit:
            self.executor.submit(run_id)
        log.info("request taken", extra={"playbook": pb.name, "object": str(ref), "run": run_id,
                                         "new_run": created, "trigger": trigger})  # fmt: skip
        return Intake(pb.name, run_id, created, "queued" if created else "joined the active run")

    def _chain(self, pb: Playbook, obj: RequestObject) -> ChainState | str:
        """The playbook's decisions on the object, from one changelog read (a string: why they cannot be known)."""
        assert pb.trigger is not None
        try:
            history = self.netbox.request_history(obj.object_type, obj.id)
        except IntegrationError as e:
            log.warning("changelog read failed", extra={"error": str(e)})
            if pb.trigger.decisions:  # cannot check who decided: not now (the reconciler asks again)
                return f"the decisions cannot be checked now: {e}"
            history = RequestHistory(additions={})  # the single approval runs; the journal says the approver is unknown
        additions = history.additions
        # Everyone who added a tag of the chain (or the request tag), in one read: at most one user call per event.
        deciders = [
            a.username for tag, a in additions.items() if tag in {pb.trigger.tag, *(d.tag for d in pb.trigger.chain)}
        ]
        users: dict[str, NetBoxUser] = {}

        def groups_of(user: str) -> frozenset[str]:
            if user not in users:
                wanted = {user, *deciders} - set(users)
                users.update(self.netbox.users(sorted(wanted)))
            return users[user].groups

        creator = history.created.username if history.created and pb.trigger.created_for_request else None
        state = check_chain(
            pb.trigger, set(obj.tags), additions, groups_of, self.executor.language, pb.calendar.office(), creator
        )
        # The full names read with the groups: the documents' signatories, at no extra call.
        return replace(state, names={u.username: u.full_name for u in users.values()})

    def _not_yet(self, pb: Playbook, obj: RequestObject, state: ChainState | str, skip: str | None) -> str:
        """Refuse the decisions that fail their checks (tag removed, journal says why); else what is awaited."""
        if isinstance(state, str):
            return state
        lang = self.executor.language
        if state.refused:
            lines = [r.text(lang) for r in state.refused]
            try:
                self.netbox.change_tags(obj.object_type, obj.id, remove=[r.decision.tag for r in state.refused])
                self.netbox.add_journal(obj.object_type, obj.id, "warning", "\n\n".join(lines))
            except IntegrationError as e:
                log.warning("could not refuse a decision", extra={"error": str(e)})
            log.warning("decision refused", extra={"playbook": pb.name, "object": f"{obj.object_type}:{obj.id}",
                                                   "refused": [r.decision.tag for r in state.refused]})  # fmt: skip
            return " ".join(lines)
        waiting = state.waiting_for
        return t("decision.waiting", lang, title=waiting.title, tag=waiting.tag) if waiting else skip or ""

    def _handled(self, playbook: str, ref: ObjectRef, approved_at: datetime | None) -> str | None:
        """A finished run under the same approval (a stale read racing the run's tag removal): its id."""
        if approved_at is None:
            return None
        for run in self.executor.store.list_runs(playbook=playbook, ref=ref, limit=5):
            same = run.approved_at is not None and abs((run.approved_at - approved_at).total_seconds()) < 1
            if run.finished and same:
                return run.id
        return None

    def _ambiguous(self, obj: RequestObject, playbooks: list[Playbook]) -> list[Intake]:
        """Two offices' playbooks claim one request (a site in one's scope, its region in the other's): run none,
        say so on the object once."""
        names = ", ".join(sorted(pb.name for pb in playbooks))
        text = t("intake.ambiguous", self.executor.language, playbooks=names, site=obj.site or "-")
        marker = f"[dcagent ambiguous {names}]"
        try:
            if not any(marker in e.comments for e in self.netbox.journal(obj.object_type, obj.id)):
                self.netbox.add_journal(obj.object_type, obj.id, "danger", f"{text}\n\n{marker}")
        except IntegrationError as e:
            log.warning("could not journal an ambiguous request", extra={"error": str(e)})
        log.error("request matches several playbooks", extra={"object": f"{obj.object_type}:{obj.id}",
                                                               "playbooks": names})  # fmt: skip
        return [Intake(pb.name, None, False, text) for pb in playbooks]

    def _withdrawn(self, obj: RequestObject, submit: bool) -> list[Intake]:
        """A request whose tag was taken off while its run is active (waiting for the server, a retry, a window, or
        at work) is withdrawn: the run is asked to stop and undo what it reserved; a running one stops at its next
        step boundary. Its own steps never remove the request tag: only its end consumes it, when it is no longer
        active."""
        out: list[Intake] = []
        for pb in self.executor.playbooks.values():
            trig = pb.trigger
            if trig is None or pb.stage == "plan" or trig.object_type != obj.object_type or trig.tag in obj.tags:
                continue
            active = self.executor.store.active_run(pb.name, ObjectRef(obj.object_type, obj.id))
            run = self.executor.store.get_run(active) if active is not None else None
            if run is None or run.status not in ("queued", "running", "waiting"):
                continue
            reason = t("run.withdrawn", self.executor.language, tag=trig.tag)
            if self.executor.store.request_cancel(run.id, reason):
                log.warning("request withdrawn: its tag was removed", extra={"run": run.id, "tag": trig.tag})
                if submit:
                    self.executor.submit(run.id)
            out.append(Intake(pb.name, run.id, False, reason))
        return out

    def _void_if_edited(self, run_id: str, obj: RequestObject) -> str | None:
        """If a field the approval covered differs now, ask the run to stop and undo (why, for the journal)."""
        run = self.executor.store.get_run(run_id)
        approved = (run.request or {}).get("object") if run is not None else None
        if not isinstance(approved, Mapping):
            return None
        changed = edited_fields(RequestObject.model_validate(approved), obj)
        if not changed:
            return None
        reason = t("run.changed_after_approval", self.executor.language, fields=", ".join(changed))
        if self.executor.store.request_cancel(run_id, reason):
            log.warning("approval voided: request edited", extra={"run": run_id, "fields": changed})
        return reason

    def _approved_values(self, obj: RequestObject, state: ChainState) -> dict[str, Any] | None:
        """The request's values at approval, kept with the run: the object as read, for a device what its steps
        read of it (type, PSUs, interfaces: agent.steps.request.approved_device), for a circuit its connection
        (agent.steps.connection.approved_connection), who filed it and who decided."""
        values: dict[str, Any] = {"object": obj.model_dump(mode="json"), "requester": state.requester,
                                  "creator": state.creator, "decisions": [m.as_json() for m in state.made],
                                  "names": state.names, "filed_at": _iso(state.filed)}  # fmt: skip
        if obj.object_type == "dcim.device":
            values["device"] = self.netbox.device_spec(obj.id, known=obj).model_dump(mode="json")
        elif obj.object_type == "circuits.circuit":  # its type, commit rate, tenant and site, as approved
            values["connection"] = self.netbox.connection_spec(obj.id).model_dump(mode="json")
        return values

    def take_ref(self, object_type: str, object_id: int, trigger: str) -> list[Intake]:
        return self.take(self.netbox.get_object(object_type, object_id), trigger)

    def reconcile(self) -> list[Intake]:
        """One reconciler pass: every approved, unhandled request without an active run gets one."""
        objects: dict[tuple[str, int], RequestObject] = {}
        for pb in self.executor.playbooks.values():
            trig = pb.trigger
            if trig is None or pb.stage == "plan":
                continue
            for obj in self.netbox.objects_with_tags(trig.object_type, [trig.tag, trig.approval_tag]):
                objects[(obj.object_type, obj.id)] = obj
            if pb.plan is not None:  # requests whose plan is due: every decision before the approval made
                before = [trig.tag, *(d.tag for d in trig.chain[:-1])]
                for obj in self.netbox.objects_with_tags(trig.object_type, before):
                    objects[(obj.object_type, obj.id)] = obj
            if trig.review is not None:
                for obj in self.netbox.objects_with_tags(trig.object_type, [trig.review.tag]):
                    objects[(obj.object_type, obj.id)] = obj
        return [r for obj in objects.values() for r in self.take(obj, "reconciler")]
