"""What steps reach the outside through: clients built lazily from settings, one per system."""

from __future__ import annotations

import threading
from functools import cached_property

from agent import clients
from agent.settings import Settings
from integrations.dns import DNSClient
from integrations.errors import PermanentError
from integrations.netbox import NetBoxClient
from integrations.zabbix import ZabbixClient


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

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

    @property
    def reverse_zones(self) -> list[str]:
        return self.settings.dns.reverse_zones if self.settings.dns else []


def services_of(ctx_services: object) -> Services:
    """Steps receive the services untyped from the engine; this checks and types them."""
    if not isinstance(ctx_services, Services):
        raise TypeError("steps need agent.steps.services.Services")
    return ctx_services
