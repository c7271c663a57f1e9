"""Plan, then approve (Central Java 004.2-6). Once the decisions before the approval are made, the playbook's plan
stage runs as a run of its own (checks, the approval form in the journal); the approval then starts the request's
run with the plan's results among its approved values, and its steps re-check what may have changed since.

An approval with no finished plan behind it, or given to a plan of other values (the request was edited after the
plan), cannot stand: its tag is removed, the journal says why, and a plan of the request as it is now is made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from agent.engine.executor import Executor
from agent.engine.playbook import Playbook
from agent.engine.registry import ObjectRef
from agent.engine.store import RunView
from agent.i18n import t
from agent.intake.decisions import ChainState
from integrations.errors import IntegrationError
from integrations.netbox import NetBoxClient, RequestObject

log = logging.getLogger("dcagent.intake")

Edited = Callable[[RequestObject, RequestObject], list[str]]


class Planner:
    def __init__(self, netbox: NetBoxClient, executor: Executor, edited: Edited) -> None:
        self.netbox = netbox
        self.executor = executor
        self.edited = edited

    def latest(self, pb: Playbook, ref: ObjectRef) -> RunView | None:
        runs = self.executor.store.list_runs(playbook=pb.plan_name, ref=ref, limit=1)
        return runs[0] if runs else None

    def take(
        self, pb: Playbook, obj: RequestObject, state: ChainState, values: Callable[[], dict[str, Any] | None],
        trigger: str, submit: bool,
    ) -> tuple[str, str | None, bool, str] | None:  # fmt: skip
        """The plan stage's part of an intake, as ``(playbook, run id, created, note)``; None: nothing for it to do
        (the approval stands on a finished plan, or a decision before the approval is awaited)."""
        assert pb.trigger is not None and pb.plan is not None
        ref = ObjectRef(obj.object_type, obj.id)
        approval = pb.trigger.chain[-1]
        if state.refused or (pb.trigger.status and obj.status != pb.trigger.status):
            return None
        if not state.complete and state.waiting_for != approval:
            return None
        latest = self.latest(pb, ref)
        changed = self._changed(latest, obj)
        if state.complete:
            if latest is not None and latest.status == "done" and not changed:
                return None
            if latest is not None and not latest.finished and not changed:
                if submit:
                    self.executor.submit(latest.id)
                return pb.plan_name, latest.id, False, "waiting for the plan to finish"
            self._refuse(pb, obj, state, changed)
        elif latest is not None and not changed and self._same_basis(latest, state):
            if submit and not latest.finished:
                self.executor.submit(latest.id)
            return pb.plan_name, latest.id, False, f"plan {latest.status}: waiting for {approval.title}"
        return self._plan(pb, obj, state, values, trigger, submit)

    def _plan(
        self, pb: Playbook, obj: RequestObject, state: ChainState, values: Callable[[], dict[str, Any] | None],
        trigger: str, submit: bool,
    ) -> tuple[str, str | None, bool, str]:  # fmt: skip
        basis = state.made[-1] if state.made else None
        ref = ObjectRef(obj.object_type, obj.id)
        run_id, created = self.executor.create(pb.plan_name, ref, obj.name, trigger, basis.user if basis else None,
                                               basis.time if basis else None, request=values())  # fmt: skip
        if submit:
            self.executor.submit(run_id)
        log.info("plan taken", extra={"playbook": pb.plan_name, "object": str(ref), "run": run_id})
        return pb.plan_name, run_id, created, "planning"

    @staticmethod
    def _same_basis(plan: RunView, state: ChainState) -> bool:
        basis: datetime | None = state.made[-1].time if state.made else None
        if plan.approved_at is None or basis is None:
            return plan.approved_at is None and basis is None
        return abs((plan.approved_at - basis).total_seconds()) < 1

    def _changed(self, plan: RunView | None, obj: RequestObject) -> list[str]:
        planned = (plan.request or {}).get("object") if plan is not None else None
        if not isinstance(planned, Mapping):
            return []
        return self.edited(RequestObject.model_validate(planned), obj)

    def _refuse(self, pb: Playbook, obj: RequestObject, state: ChainState, changed: list[str]) -> None:
        lang, approval = self.executor.language, state.made[-1]
        why = t("plan.changed", lang, fields=", ".join(changed)) if changed else t("plan.missing", lang)
        user = approval.user or t("journal.unknown_approver", lang)
        note = t("decision.refused", lang, title=approval.title, tag=approval.tag, user=user, reason=why)
        tag = approval.tag
        try:
            self.netbox.change_tags(obj.object_type, obj.id, remove=[tag])
            self.netbox.add_journal(obj.object_type, obj.id, "warning", note)
        except IntegrationError as e:
            log.warning("could not refuse an approval", extra={"error": str(e)})
        log.warning("approval without a plan", extra={"playbook": pb.name, "changed": changed})

    def outputs(self, pb: Playbook, ref: ObjectRef) -> dict[str, Any]:
        """The finished plan's results, kept with the request's run: what the approver saw."""
        plan = self.latest(pb, ref)
        full = self.executor.store.get_run(plan.id) if plan is not None else None
        if full is None:
            return {}
        steps = {st.key: st.output for st in full.steps if st.phase == "main" and st.status == "done"}
        return {"run": full.id, "outputs": steps}
