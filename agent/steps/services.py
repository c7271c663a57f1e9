"""What steps reach the outside through: clients built lazily from settings, one per system."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from functools import cached_property
from urllib.parse import urlsplit

from agent.config import clients
from agent.config.settings import BackupSettings, Settings
from agent.engine.schedules import BackupScheduler
from integrations.backup import ResticRepository
from integrations.dns import DNSClient
from integrations.errors import PermanentError
from integrations.mail import Mailer
from integrations.netbox import NetBoxClient
from integrations.switches import DRIVERS, DriverFactory
from integrations.transfer import RemoteServer
from integrations.zabbix import ZabbixClient, send_values


class Services:
    def __init__(self, settings: Settings, scheduler: BackupScheduler | None = None) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._scheduler = scheduler
        # Set by the CLI to draw progress bars for long transfers: (label, bytes so far, percent).
        self.on_progress: Callable[[str, int, int], None] | None = None
        # The switch drivers by NetBox platform slug (tests put drivers over a fake CLI here).
        self.switch_drivers: Mapping[str, DriverFactory] = DRIVERS

    def progress(self, label: str) -> Callable[[int, int], None] | None:
        sink = self.on_progress
        if sink is None:
            return None
        return lambda done, percent: sink(label, done, percent)

    @property
    def scheduler(self) -> BackupScheduler:
        if self._scheduler is None:
            raise PermanentError("scheduler", "backups are not configured (settings: backup)")
        return self._scheduler

    @property
    def scheduler_or_none(self) -> BackupScheduler | None:
        return self._scheduler

    @property
    def backup(self) -> BackupSettings:
        if self.settings.backup is None:
            raise PermanentError("restic", "backups are not configured (settings: backup)")
        return self.settings.backup

    @cached_property
    def restic(self) -> ResticRepository:
        b = self.backup
        return ResticRepository(b.repository, b.password.get_secret_value(), timeout=3600)

    def server(self, host: str, port: int | None) -> RemoteServer:
        ssh = self.settings.server_ssh
        if ssh is None:
            raise PermanentError("server", "SSH to servers is not configured (settings: server_ssh)")
        return RemoteServer(host, port or ssh.port, clients.ssh_credentials(ssh), self.backup.bwlimit_kbps)

    def send_health(self, host: str, values: dict[str, str | int | float]) -> None:
        z = self.settings.zabbix
        server = z.sender_host or (urlsplit(str(z.url)).hostname or "127.0.0.1")
        send_values(server, z.sender_port, host, values, timeout=int(max(1, z.timeout)))

    @cached_property
    def netbox(self) -> NetBoxClient:
        return clients.netbox(self.settings)

    @cached_property
    def zabbix(self) -> ZabbixClient:
        return clients.zabbix(self.settings)

    @cached_property
    def dns(self) -> DNSClient:
        if self.settings.dns is None:
            raise PermanentError("DNS", "not configured (settings: dns)")
        return clients.dns(self.settings.dns)

    @property
    def dns_zone(self) -> str:
        if self.settings.dns is None:
            raise PermanentError("DNS", "not configured (settings: dns)")
        return self.settings.dns.zone

    @cached_property
    def mailer(self) -> Mailer:
        m = self.settings.mail
        if m is None:
            raise PermanentError("mail", "notices by e-mail are not configured (settings: mail)")
        return clients.mailer(m)

    @property
    def reverse_zones(self) -> list[str]:
        return self.settings.dns.reverse_zones if self.settings.dns else []


def services_of(ctx_services: object) -> Services:
    """Steps receive the services untyped from the engine; this checks and types them."""
    if not isinstance(ctx_services, Services):
        raise TypeError("steps need agent.steps.services.Services")
    return ctx_services
