"""The switches NetBox records: management address, platform, SSH service."""

from __future__ import annotations

from typing import Any

from integrations.errors import PermanentError
from integrations.netbox.base import (
    PAGE,
    SYSTEM,
    SwitchRef,
)
from integrations.netbox.core import NetBoxCore


class Switches(NetBoxCore):
    """Switch inventory for the switch drivers."""

    # -- switches -------------------------------------------------------------------------------------
    def ssh_endpoint(self, device_id: int) -> tuple[str | None, int | None]:
        """The device's primary address and the port of its ``ssh`` service, as NetBox records them."""

        def run() -> tuple[str | None, int | None]:
            dev = self._api.dcim.devices.get(device_id)
            if dev is None:
                raise PermanentError(SYSTEM, f"device {device_id} does not exist")
            ip = dev.primary_ip4 or dev.primary_ip6 or dev.primary_ip
            host = str(ip.address).split("/", 1)[0] if ip else None
            ssh = [
                s for s in self._api.ipam.services.filter(limit=PAGE, device_id=dev.id) if str(s.name).lower() == "ssh"
            ]
            return host, int(ssh[0].ports[0]) if ssh and ssh[0].ports else None

        return self._do(f"read SSH endpoint of device {device_id}", run)

    def switches(self, roles: list[str]) -> list[SwitchRef]:
        """Devices with one of ``roles``, with their primary address and SSH service port, if recorded."""

        def run() -> list[SwitchRef]:
            refs = []
            devices = list(self._api.dcim.devices.filter(role=roles, limit=PAGE))
            services: dict[int, list[Any]] = {}
            if devices:  # one read for every switch's services, not one per switch
                for s in self._api.ipam.services.filter(device_id=[int(d.id) for d in devices], limit=PAGE):
                    if str(s.name).lower() == "ssh" and s.parent_object_type == "dcim.device":
                        services.setdefault(int(s.parent_object_id), []).append(s)
            for dev in devices:
                ip = dev.primary_ip4 or dev.primary_ip6 or dev.primary_ip
                host = str(ip.address).split("/", 1)[0] if ip else None
                ssh = services.get(int(dev.id), [])
                refs.append(
                    SwitchRef(
                        id=int(dev.id),
                        name=str(dev.name),
                        site=str(dev.site.slug),
                        rack_id=int(dev.rack.id) if dev.rack else None,
                        platform=str(dev.platform.slug) if dev.platform else None,
                        host=host,
                        ssh_port=int(ssh[0].ports[0]) if ssh and ssh[0].ports else None,
                    )
                )
            return refs

        return self._do("list switches", run)
