"""A VLAN's gateway as NetBox records it: the prefix's gateway address (role ``anycast``), assigned to the layer-3
interface (an SVI, type ``virtual``) of the device that routes it. An address assigned to no interface is a gateway
NetBox knows nothing more about (the lab's loopback VLANs): there is no device to read it back from."""

from __future__ import annotations

from typing import Any

from integrations.errors import PermanentError
from integrations.netbox.base import PAGE, SYSTEM, _Model
from integrations.netbox.core import NetBoxCore

GATEWAY_ROLE = "anycast"


class GatewayRef(_Model):
    ip_id: int
    address: str  # with its prefix length, "198.18.30.1/24"
    device_id: int | None = None  # the device whose interface holds it; None: assigned to none
    device: str | None = None
    interface: str | None = None


def _gateway_ref(row: Any) -> GatewayRef:
    obj = row.assigned_object if row.assigned_object_type == "dcim.interface" else None
    device = getattr(obj, "device", None) if obj is not None else None
    return GatewayRef(ip_id=int(row.id), address=str(row.address),
                      device_id=int(device.id) if device is not None else None,
                      device=str(device.name) if device is not None else None,
                      interface=str(obj.name) if obj is not None else None)  # fmt: skip


class Gateways(NetBoxCore):
    """Gateways of server VLANs and of agencies' connections."""

    def prefix_gateway(self, prefix: str) -> GatewayRef | None:
        """The prefix's gateway: its address with role ``anycast`` (None: the prefix has none)."""
        rows = self._do(
            f"gateway of prefix {prefix}",
            lambda: list(self._api.ipam.ip_addresses.filter(limit=PAGE, parent=prefix, role=GATEWAY_ROLE)),
        )
        return _gateway_ref(rows[0]) if rows else None

    def attach_gateway(self, ip_id: int, device_id: int, interface: str, description: str) -> int:
        """Record the address on the device's layer-3 interface (made, type ``virtual``, if missing), role
        ``anycast``; returns the interface's id. Idempotent."""

        def run() -> int:
            iface = self._api.dcim.interfaces.get(device_id=device_id, name=interface)
            if iface is None:
                iface = self._api.dcim.interfaces.create(
                    {"device": device_id, "name": interface, "type": "virtual", "description": description[:200]}
                )
            ip = self._api.ipam.ip_addresses.get(ip_id)
            if ip is None:
                raise PermanentError(SYSTEM, f"IP address {ip_id} does not exist")
            ip.update({"assigned_object_type": "dcim.interface", "assigned_object_id": int(iface.id),
                       "role": GATEWAY_ROLE})  # fmt: skip
            return int(iface.id)

        return self._do(f"record gateway {ip_id} on {interface}", run)

    def detach_gateway(self, ip_id: int, device_id: int, interface: str) -> bool:
        """Undo of :meth:`attach_gateway`: the address unassigned (if it still exists), the interface deleted when no
        other address is on it. True: the interface is gone."""

        def run() -> bool:
            ip = self._api.ipam.ip_addresses.get(ip_id)
            if ip is not None and ip.assigned_object_id is not None:
                ip.update({"assigned_object_type": None, "assigned_object_id": None})
            iface = self._api.dcim.interfaces.get(device_id=device_id, name=interface)
            if iface is None:
                return True
            if list(self._api.ipam.ip_addresses.filter(limit=PAGE, interface_id=int(iface.id))):
                return False
            return bool(iface.delete())

        return self._do(f"remove gateway {ip_id} from {interface}", run)
