"""The closing review (Batam 000.11, 001.10, 002.11): after the work report, an official tags the object and the
request is closed — recorded on the run, journalled, the tag removed so that a later request starts clean."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from agent.engine.playbook import Playbook
from agent.engine.registry import ObjectRef
from agent.engine.store import RunView, Store
from agent.i18n import Language, t
from agent.intake.decisions import Made, Refusal, check_review
from integrations.errors import IntegrationError
from integrations.netbox import NetBoxClient, RequestObject

log = logging.getLogger("dcagent.intake")


@dataclass(frozen=True)
class ReviewOutcome:
    playbook: str
    run_id: str | None
    note: str


class ReviewDesk:
    def __init__(self, netbox: NetBoxClient, store: Store, language: Language) -> None:
        self.netbox = netbox
        self.store = store
        self.language = language

    def take(self, obj: RequestObject, playbooks: list[Playbook]) -> list[ReviewOutcome]:
        """The review tag closes the done run that waits for it, of whichever of the office's playbooks ran it (one
        tag may serve several SOPs); when none waits, the tag is answered once, however many playbooks share it."""
        ref = ObjectRef(obj.object_type, obj.id)
        by_tag: dict[str, list[Playbook]] = {}
        for pb in playbooks:
            review = pb.trigger.review if pb.trigger else None
            if review is not None and review.tag in obj.tags:
                by_tag.setdefault(review.tag, []).append(pb)
        out: list[ReviewOutcome] = []
        for tag, books in by_tag.items():
            waiting = [(pb, run) for pb in books if (run := self._waiting_run(pb, ref)) is not None]
            try:
                if not waiting:
                    note = t("review.nothing", self.language, tag=tag)
                    self._answer(obj, tag, "warning", note)
                    out.append(ReviewOutcome(books[0].name, None, note))
                out += [self._close(pb, obj, run) for pb, run in waiting]
            except IntegrationError as e:  # the tag stays: the reconciler asks again
                log.warning("review not handled", extra={"playbooks": [b.name for b in books], "error": str(e)})
                out.append(ReviewOutcome(books[0].name, None, f"review not handled now: {e}"))
        return out

    def _waiting_run(self, pb: Playbook, ref: ObjectRef) -> RunView | None:
        for run in self.store.list_runs(playbook=pb.name, ref=ref, limit=5):
            if run.finished:  # the latest finished run: done and not yet reviewed, or nothing waits
                return run if run.status == "done" and not (run.request or {}).get("review") else None
        return None

    def _close(self, pb: Playbook, obj: RequestObject, run: RunView) -> ReviewOutcome:
        assert pb.trigger is not None and pb.trigger.review is not None
        review, lang = pb.trigger.review, self.language
        history = self.netbox.request_history(obj.object_type, obj.id)
        found = history.additions.get(review.tag)
        user = found.username if found else None
        request = run.request or {}
        # The creator as recorded at approval, else as the changelog says now (a run from before it was recorded).
        creator = request.get("creator") or (
            history.created.username if history.created and pb.trigger.created_for_request else None
        )
        why = check_review(review, user, request.get("requester"), self.netbox.user_groups, lang, creator)
        if why is not None:
            note = Refusal(review, user, why).text(lang)
            self._answer(obj, review.tag, "warning", note)
            return ReviewOutcome(pb.name, run.id, note)
        when = datetime.fromisoformat(found.time) if found else None
        made = Made(review.tag, review.title, user, when, review.sop_step)
        if self.store.record_review(run.id, made.as_json()):
            note = t("review.closed", lang, title=review.title, user=user, run=run.id[:8],
                     time=when.isoformat(timespec="seconds") if when else "-")  # fmt: skip
            self._answer(obj, review.tag, "success", note)
            log.info("request reviewed", extra={"playbook": pb.name, "run": run.id, "reviewer": user})
            return ReviewOutcome(pb.name, run.id, note)
        return ReviewOutcome(pb.name, run.id, "already reviewed")

    def _answer(self, obj: RequestObject, tag: str, kind: str, note: str) -> None:
        self.netbox.change_tags(obj.object_type, obj.id, remove=[tag])
        self.netbox.add_journal(obj.object_type, obj.id, kind, note)
