"""IPAM: prefixes, available addresses, IP addresses found by the run that made them."""

from __future__ import annotations

from typing import Any

from pynetbox.models.ipam import Prefixes

from integrations.errors import PermanentError
from integrations.netbox.base import (
    PAGE,
    SYSTEM,
    IPRef,
    PrefixRef,
    _ip_ref,
)
from integrations.netbox.core import NetBoxCore


class Ipam(NetBoxCore):
    """Prefixes and IP addresses."""

    # -- IPAM -----------------------------------------------------------------------------------------------
    def prefix_of_vlan(self, vlan_id: int) -> PrefixRef:
        rows = self._do("prefix of VLAN", lambda: list(self._api.ipam.prefixes.filter(limit=PAGE, vlan_id=vlan_id)))
        if not rows:
            raise PermanentError(SYSTEM, f"VLAN {vlan_id} has no prefix")
        return PrefixRef(id=int(rows[0].id), prefix=str(rows[0].prefix))

    def _prefix(self, prefix_id: int) -> Any:
        # A prefix known by id, for its available-ips endpoint: no GET of the prefix first (a call saved per use).
        return Prefixes({"id": prefix_id}, self._api, self._api.ipam.prefixes)

    def ips_with_marker(self, marker: str) -> list[IPRef]:
        """Addresses whose description carries ``marker`` (how a re-run finds what it reserved)."""
        rows = self._do(
            "find IPs", lambda: list(self._api.ipam.ip_addresses.filter(limit=PAGE, description__ic=marker))
        )
        return [_ip_ref(r) for r in rows if marker in str(r.description)]

    def reserve_ip(self, prefix_id: int, dns_name: str, description: str, tenant_id: int | None = None,
                   custom_fields: dict[str, Any] | None = None) -> IPRef:  # fmt: skip
        """The next free address of the prefix, taken atomically by NetBox (``available-ips``)."""

        def run() -> Any:
            prefix = self._prefix(prefix_id)
            data: dict[str, Any] = {"status": "active", "dns_name": dns_name, "description": description[:200]}
            if tenant_id is not None:
                data["tenant"] = tenant_id
            if custom_fields:
                data["custom_fields"] = custom_fields
            created = prefix.available_ips.create(data)
            return created[0] if isinstance(created, list) else created

        row = self._do(f"reserve an IP in prefix {prefix_id}", run)
        if row is None:
            raise PermanentError(SYSTEM, f"prefix {prefix_id} has no free address")
        return _ip_ref(row)

    def device_ips(self, device_id: int) -> list[IPRef]:
        """The addresses assigned to any interface of the device."""
        rows = self._do("find the device's IPs",
                        lambda: list(self._api.ipam.ip_addresses.filter(limit=PAGE, device_id=device_id)))  # fmt: skip
        return [_ip_ref(r) for r in rows]

    def delete_ip(self, ip_id: int) -> bool:
        def run() -> bool:
            row = self._api.ipam.ip_addresses.get(ip_id)
            return bool(row.delete()) if row is not None else False

        return self._do(f"delete IP {ip_id}", run)
