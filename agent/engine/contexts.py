"""What a step receives (its :class:`StepContext`), built the same way for a run's steps and for a dry run."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, Literal

from agent.engine.document_numbers import DocumentNumbers
from agent.engine.documents import DocumentsSpec
from agent.engine.locks import LockManager
from agent.engine.playbook import Playbook, StepRef
from agent.engine.registry import Clock, StepContext
from agent.engine.run_meta import RunMeta
from agent.engine.store import RunView, Store


class Contexts:
    def __init__(
        self,
        store: Store,
        playbooks: Mapping[str, Playbook],
        services: Any,
        locks: LockManager,
        clock: Clock,
        language: Literal["id", "en"],
    ) -> None:
        self._store = store
        self._numbers = DocumentNumbers(store.engine)
        self._playbooks = playbooks  # the executor's own mapping: a playbook it is given later is found too
        self._services = services
        self._locks = locks
        self._clock = clock
        self._language = language

    def for_step(self, run: RunView, ref: StepRef, outputs: Mapping[str, Mapping[str, Any]]) -> StepContext:
        pb = self._playbooks[run.playbook]
        meta = RunMeta(title=pb.title, sop_number=pb.sop.number, sop_office=pb.sop.office,
                       calendar=pb.calendar.office(), standards=pb.standards(),
                       titles={s.key: s.title for s in pb.all_steps() if s.title},
                       sop_title=pb.sop.title, approver=run.approver, documents=pb.documents or DocumentsSpec(),
                       created_for_request=bool(pb.trigger and pb.trigger.created_for_request),
                       request_tag=pb.trigger.tag if pb.trigger else None,
                       approved_at=run.approved_at.isoformat(timespec="seconds") if run.approved_at else None,
                       )  # fmt: skip
        return StepContext(
            run_id=run.id, playbook=run.playbook, step=ref.key, request=run.ref, outputs=dict(outputs),
            services=self._services, locks=self._locks, clock=self._clock, language=self._language, params=ref.params,
            meta=meta, history=lambda: self._store.get_run(run.id), approved=run.request or {},
            document_number=partial(self._numbers.take, pb.sop.office, run_id=run.id),
        )  # fmt: skip
