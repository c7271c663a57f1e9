"""The engine's Tracker on NetBox: journal entries and outcome tags on the request object.

Idempotent by marker: every entry ends with ``[dcagent run <id> <event>]``; an entry already carrying the marker is
not written again (a resumed run reports the same event again after a crash).
"""

from __future__ import annotations

import logging

from agent.domain.markers import marker
from agent.engine.executor import Final
from agent.engine.playbook import Playbook
from agent.engine.store import RunView
from agent.i18n import Language, t
from agent.setup.contract import OUTCOME_TAGS
from integrations.netbox import NetBoxClient

log = logging.getLogger("dcagent.tracker")

KIND = {"started": "info", "done": "success", "rejected": "warning", "failed": "danger", "planned": "success"}


def _awaited(playbook: Playbook) -> tuple[str, str]:
    assert playbook.trigger is not None
    approval = playbook.trigger.chain[-1]
    return approval.title, approval.tag


def past_standard(run: RunView, playbook: Playbook) -> list[str]:
    """The decisions and steps of ``run`` that took longer than their SOP standard, in office time."""
    calendar, standards = playbook.calendar.office(), playbook.standards()
    late = [f"{d.get('title')} ({d.get('standard')})" for d in (run.request or {}).get("decisions", [])
            if d.get("within") is False]  # fmt: skip
    for st in run.steps:
        std = standards.get(st.key)
        if st.phase == "main" and std is not None and calendar.within(st.measured_from, st.finished_at, std) is False:
            late.append(f"{st.key} ({std})")
    return late


class NetBoxTracker:
    def __init__(self, netbox: NetBoxClient, language: Language) -> None:
        self.netbox = netbox
        self.language = language

    def _write_once(self, run: RunView, event: str, text: str, known_new: bool = False) -> None:
        tag = marker(run.id, event)
        if not known_new and any(
            tag in e.comments for e in self.netbox.journal(run.ref.object_type, run.ref.object_id)
        ):
            return
        self.netbox.add_journal(run.ref.object_type, run.ref.object_id, KIND[event], f"{text}\n\n{tag}")

    def started(self, run: RunView, playbook: Playbook, first: bool) -> None:
        if playbook.trigger is None:  # a scheduled job (e.g. a nightly backup) does not mark the object
            return
        lang = self.language
        text = t(
            "journal.started", lang, title=playbook.title, sop=playbook.sop.number, office=playbook.sop.office,
            approver=run.approver or t("journal.unknown_approver", lang),
            approved_at=run.approved_at.isoformat(timespec="seconds") if run.approved_at else "-",
        )  # fmt: skip
        self._write_once(run, "started", text, known_new=first)
        others = [v for k, v in OUTCOME_TAGS.items() if k != "running"]
        self.netbox.change_tags(run.ref.object_type, run.ref.object_id, add=[OUTCOME_TAGS["running"]], remove=others)

    def _planned(self, run: RunView, playbook: Playbook, late: str, first: bool) -> None:
        title, tag = _awaited(playbook)
        self._write_once(run, "planned", t("journal.planned", self.language, title=playbook.title, approval=title,
                                           tag=tag) + late, known_new=first)  # fmt: skip
        others = [v for k, v in OUTCOME_TAGS.items() if k != "planned"]
        self.netbox.change_tags(run.ref.object_type, run.ref.object_id, add=[OUTCOME_TAGS["planned"]], remove=others)

    def finished(
        self, run: RunView, playbook: Playbook, outcome: Final, reasons: list[str], first: bool = False
    ) -> None:
        late_items = past_standard(run, playbook)
        late = "\n\n" + t("journal.late", self.language, items="; ".join(late_items)) if late_items else ""
        text = t(f"journal.{outcome}", self.language, title=playbook.title, reasons="; ".join(reasons) or "-") + late
        kept, pending = _kept(run)
        if outcome == "failed" and playbook.on_failure == "keep":  # a withdrawal: say exactly what stands
            text = t("journal.failed_kept", self.language, title=playbook.title, reasons="; ".join(reasons) or "-",
                     kept=", ".join(kept) or "-", pending=", ".join(pending) or "-") + late  # fmt: skip
        if playbook.trigger is None:  # a scheduled job: only failures reach the journal, tags are left alone
            if outcome != "done":
                self._write_once(run, outcome, text, known_new=first)
            return
        if playbook.stage == "plan" and outcome == "done":  # the request waits for its approval: nothing consumed
            self._planned(run, playbook, late, first)
            return
        self._write_once(run, outcome, text, known_new=first)
        # An approval is consumed by the run it started: the request and approval tags go, the outcome tag stays.
        # A new request on the same object (another SOP, or this one again after a fix) is tagged and approved anew.
        consumed = [playbook.trigger.tag, *(d.tag for d in playbook.trigger.chain), OUTCOME_TAGS["running"]]
        self.netbox.change_tags(run.ref.object_type, run.ref.object_id, add=[OUTCOME_TAGS[outcome]], remove=consumed)


def _kept(run: RunView) -> tuple[list[str], list[str]]:
    """Main steps done and not undone (they stand), and main steps not done."""
    main = [s for s in run.steps if s.phase == "main"]
    undone = {s.key for s in run.steps if s.phase == "undo" and s.status == "done"}
    kept = [s.key for s in main if s.status == "done" and s.key not in undone]
    return kept, [s.key for s in main if s.status != "done"]
