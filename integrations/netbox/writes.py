"""Writes used by playbook steps: devices, interfaces, cables, power connections."""

from __future__ import annotations

import re
from typing import Any

from integrations.errors import ConflictError, PermanentError
from integrations.netbox.base import (
    PAGE,
    SYSTEM,
    InterfaceRef,
    _peer_id,
)
from integrations.netbox.core import NetBoxCore


class StepWrites(NetBoxCore):
    """Writes, each found again by the run's id on a re-run."""

    # -- writes used by playbook steps ---------------------------------------------------------------------
    def update_device(self, device_id: int, fields: dict[str, Any]) -> None:
        """PATCH a device; NetBox's refusal (e.g. "U12 is already occupied") surfaces as PermanentError."""

        self._patch(self._api.dcim.devices, device_id, fields, f"update device {device_id}")

    def interface(self, device_id: int, name: str) -> InterfaceRef:
        def run() -> InterfaceRef:
            row = self._api.dcim.interfaces.get(device_id=device_id, name=name)
            if row is None:
                raise PermanentError(SYSTEM, f"device {device_id} has no interface {name}")
            return InterfaceRef(id=int(row.id), name=str(row.name), cable_id=int(row.cable.id) if row.cable else None,
                                device_id=device_id, enabled=bool(getattr(row, "enabled", True)),
                                description=str(row.description or ""),
                                mode=str(row.mode.value) if row.mode else None,
                                untagged_vlan=int(row.untagged_vlan.id) if row.untagged_vlan else None)  # fmt: skip

        return self._do(f"read interface {name} of device {device_id}", run)

    def device_macs(self, device_id: int) -> list[str]:
        """The MAC addresses NetBox records on the device's interfaces (NetBox ≥ 4.2: MAC address objects), lowercase
        colon form as switches report them; none recorded: empty."""
        rows = self._do(f"read MAC addresses of device {device_id}",
                        lambda: list(self._api.dcim.mac_addresses.filter(limit=PAGE, device_id=device_id)))  # fmt: skip
        return sorted({str(r.mac_address).lower().replace("-", ":") for r in rows if getattr(r, "mac_address", None)})

    def update_interface(self, interface_id: int, fields: dict[str, Any]) -> None:
        self._patch(self._api.dcim.interfaces, interface_id, fields, f"update interface {interface_id}")

    def assign_ip(self, ip_id: int, interface_id: int) -> None:
        fields = {"assigned_object_type": "dcim.interface", "assigned_object_id": interface_id}
        self._patch(self._api.ipam.ip_addresses, ip_id, fields, f"assign IP {ip_id}")

    def cable(self, a_interface: int, b_interface: int, label: str, run_id: str) -> int:
        """A connected cable a → b. ``b`` cabled by someone else meanwhile (NetBox: "Duplicate termination found for
        dcim.interface <b>") is a :class:`ConflictError`; any other refusal stays a PermanentError."""
        return self._cable("dcim.interface", a_interface, b_interface, label, run_id)

    def cable_circuit(self, termination_id: int, b_interface: int, label: str, run_id: str) -> int:
        """A connected cable from a circuit termination to the interface ``b``; ``b`` taken meanwhile: ConflictError."""
        return self._cable("circuits.circuittermination", termination_id, b_interface, label, run_id)

    def _cable(self, a_type: str, a_id: int, b_interface: int, label: str, run_id: str) -> int:
        def run() -> int:
            row = self._api.dcim.cables.create(
                {"a_terminations": [{"object_type": a_type, "object_id": a_id}],
                 "b_terminations": [{"object_type": "dcim.interface", "object_id": b_interface}],
                 "status": "connected", "label": label[:100], "custom_fields": {"dcagent_run_id": run_id}}
            )  # fmt: skip
            return int(row.id)

        try:
            return self._do("create cable", run)
        except PermanentError as e:
            if type(e) is PermanentError and re.search(rf"Duplicate termination found for dcim\.interface "
                                                        rf"{b_interface}\b", e.message):  # fmt: skip
                raise ConflictError(SYSTEM, f"create cable: interface {b_interface} is already cabled") from e
            raise

    def cable_run_id(self, cable_id: int) -> str | None:
        row = self._do(f"read cable {cable_id}", lambda: self._api.dcim.cables.get(cable_id))
        return None if row is None else (row.custom_fields or {}).get("dcagent_run_id")

    def cable_peer_interface(self, cable_id: int, near_interface: int) -> InterfaceRef:
        """The interface at the other end of a cable from ``near_interface``."""

        def run() -> tuple[int, int]:
            cable = self._api.dcim.cables.get(cable_id)
            for term in [*cable.a_terminations, *cable.b_terminations]:
                oid = int(term["object_id"] if isinstance(term, dict) else term.object_id)
                if oid != near_interface:
                    obj = term["object"] if isinstance(term, dict) else term.object
                    dev = obj["device"]["id"] if isinstance(obj, dict) else obj.device.id
                    return int(dev), oid
            raise PermanentError(SYSTEM, f"cable {cable_id} has no far end")

        device_id, interface_id = self._do(f"read cable {cable_id}", run)
        row = self._do("read interface", lambda: self._api.dcim.interfaces.get(interface_id))
        return self.interface(device_id, str(row.name))

    def device_cables(self, device_id: int) -> list[int]:
        """Every cable with an end on the device (data and power)."""
        rows = self._do("find the device's cables",
                        lambda: list(self._api.dcim.cables.filter(limit=PAGE, device_id=device_id)))  # fmt: skip
        return sorted(int(r.id) for r in rows)

    def delete_cable(self, cable_id: int) -> None:
        def run() -> None:
            row = self._api.dcim.cables.get(cable_id)
            if row is not None:
                row.delete()

        self._do(f"delete cable {cable_id}", run)

    def rack_pdus(self, rack_id: int) -> dict[int, int]:
        """PDU device id → the power feed its input is cabled to, for the rack's PDUs."""

        def run() -> dict[int, int]:
            out: dict[int, int] = {}
            for port in self._api.dcim.power_ports.filter(limit=PAGE, rack_id=rack_id):
                if port.link_peers_type == "dcim.powerfeed" and port.link_peers:
                    out[int(port.device.id)] = _peer_id(port.link_peers[0])
            return out

        return self._do(f"read PDUs of rack {rack_id}", run)

    def free_outlet(self, pdu_id: int) -> int | None:
        def run() -> int | None:
            free = [o for o in self._api.dcim.power_outlets.filter(limit=PAGE, device_id=pdu_id) if o.cable is None]
            return int(sorted(free, key=lambda o: int(o.id))[0].id) if free else None

        return self._do(f"free outlet of PDU {pdu_id}", run)

    def power_ports(self, device_id: int) -> list[tuple[int, str, int | None]]:
        """(id, name, cable id) of a device's power ports."""
        rows = self._do(
            "read power ports", lambda: list(self._api.dcim.power_ports.filter(limit=PAGE, device_id=device_id))
        )
        return [(int(r.id), str(r.name), int(r.cable.id) if r.cable else None) for r in rows]

    def power_cable(self, power_port: int, outlet: int, run_id: str) -> int:
        return self.power_cables([(power_port, outlet)], run_id)[0]

    def power_cables(self, pairs: list[tuple[int, int]], run_id: str) -> list[int]:
        """Cable each (power port, outlet) pair, in one request: NetBox creates a list of cables in one
        transaction (all or none), so a refusal leaves nothing behind."""

        def run() -> list[int]:
            rows = self._api.dcim.cables.create([
                {"a_terminations": [{"object_type": "dcim.powerport", "object_id": port}],
                 "b_terminations": [{"object_type": "dcim.poweroutlet", "object_id": outlet}],
                 "status": "connected", "custom_fields": {"dcagent_run_id": run_id}}
                for port, outlet in pairs
            ])  # fmt: skip
            return [int(r.id) for r in (rows if isinstance(rows, list) else [rows])]

        return self._do("create power cables", run)
