"""The Zabbix adapter, split by concern: the API client and its version gates (client), host writes (hosts), host
reads (inventory), maintenance windows, the temporary verification template, dashboards. ``ZabbixClient`` is all of
them."""

from __future__ import annotations

from integrations.zabbix.client import (
    MIN_VERSION,
    SYSTEM,
    SenderResult,
    TrapperItem,
    TriggerSpec,
    ZabbixClient,
    ZabbixLogin,
    api_url,
    send_values,
)
from integrations.zabbix.hosts import HostSpec

__all__ = ["MIN_VERSION", "SYSTEM", "HostSpec", "SenderResult", "TrapperItem", "TriggerSpec", "ZabbixClient",
           "ZabbixLogin", "api_url", "send_values"]  # fmt: skip
