"""Wiring: settings → store, playbooks, services, tracker, locks, executor, intake. No logic of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from time import sleep

import agent.steps  # noqa: F401  (registers every step before playbooks are checked)
from agent.config.settings import Settings
from agent.engine.executor import Executor
from agent.engine.locks import locks_for
from agent.engine.options import ExecutorOptions
from agent.engine.playbook import Playbook, load_playbooks
from agent.engine.schedules import BackupScheduler
from agent.engine.store import Store
from agent.i18n import use_locale_dir
from agent.intake.service import IntakeService
from agent.runtime import chaos
from agent.runtime.tracker import NetBoxTracker
from agent.steps.services import Services
from integrations.cancel import scope as cancel_scope


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        sleep(seconds)


@dataclass
class Agent:
    settings: Settings
    store: Store
    playbooks: dict[str, Playbook]
    services: Services
    executor: Executor
    intake: IntakeService


def build(settings: Settings, workers: int | None = None) -> Agent:
    use_locale_dir(settings.locale_dir)
    store = Store(settings.store_url)
    store.migrate()
    playbooks = load_playbooks(settings.playbooks_dir)
    scheduler = None
    if settings.backup is not None:
        scheduler = BackupScheduler(store.engine, settings.timezone, settings.backup.misfire_grace_time)
    services = Services(settings, scheduler)
    locks = locks_for(store.engine)
    options = ExecutorOptions(max_workers=workers or settings.workers, step_scope=cancel_scope,
                              outage_budget=settings.outage_budget)  # fmt: skip
    executor = Executor(
        store, playbooks, services, NetBoxTracker(services.netbox, settings.language), locks, SystemClock(),
        language=settings.language, options=options, after_step=chaos.from_env(),
    )  # fmt: skip
    return Agent(settings, store, playbooks, services, executor, IntakeService(services.netbox, executor))
