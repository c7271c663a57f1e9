"""What the switch says when Zabbix does not see a new server answer (SOP 003 step 11: "apabila terdapat kendala akan
dilakukan konfigurasi ulang"): the states of the port the server is cabled to, the MACs the switch learned on it and
in the request's VLAN, the gateway's ARP entry for the server's address (issue 31: "the gateway's ARP"), and a
conclusion a technician can act on.

Reading it never fails the step: a switch that cannot be read is a finding too, and so is a gateway whose ARP table
cannot be read ("not available"). The conclusion is the first of :data:`RULES` that applies, each a plain test of
the facts read (unit-tested one by one).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from agent.engine.cancel import StepCancelled
from agent.engine.registry import StepContext
from agent.i18n import Language, t
from agent.steps.services import Services
from agent.steps.switchport import open_switch
from integrations.switches.base import MacEntry, Neighbor

# Where earlier steps recorded the switch port a request's object is cabled to: (the cabling step, the step that
# configured the port, whose output names the VLAN). The colocation's server port, the new connection's port.
CABLING = (("cable_switch_port", "configure_switch_port"), ("cable_connection", "configure_connection_port"))
# Where earlier steps recorded the device holding the VLAN's gateway: the new connection's router, else the device
# the colocation's gateway check asked (None there: NetBox places the gateway on no device).
GATEWAY_ROUTER, GATEWAY_CHECK = "configure_gateway", "check_gateway"
UP, DOWN = "up", "down"  # interface states as switches print them, the same in every language


class PortFinding(BaseModel):
    """The facts read from the switch (kept in the run as JSON). ``error``: why they could not be read."""

    model_config = ConfigDict(frozen=True)

    switch: str = "-"
    port: str = "-"
    vlan: int | None = None  # the request's VLAN
    error: str | None = None
    enabled: bool | None = None  # administrative state
    link_up: bool | None = None  # None: the switch does not say
    on_port: tuple[MacEntry, ...] = ()  # MACs learned on the port, any VLAN
    in_vlan: tuple[MacEntry, ...] = ()  # MACs learned in the request's VLAN, any port
    device_macs: tuple[str, ...] = ()  # the server's own MACs as NetBox records them
    device_seen: tuple[MacEntry, ...] = ()  # where the switch learned those
    gateway: str | None = None  # the device holding the VLAN's gateway, whose ARP table was asked
    expected_ip: str | None = None  # the server's address as the run reserved it (no prefix length)
    arp: tuple[Neighbor, ...] | None = None  # the gateway's ARP entries in the VLAN; None: not read (see arp_error)
    arp_error: str | None = None  # why the gateway's ARP could not be read ("not available")

    def arp_entry(self) -> Neighbor | None:
        """The gateway's ARP entry for the server's address (None: none, or not read)."""
        return next((n for n in self.arp or () if self.expected_ip and n.ip == self.expected_ip), None)

    def arp_mac(self) -> str | None:
        """The MAC the gateway resolved the server's address to."""
        entry = self.arp_entry()
        return entry.mac if entry is not None else None

    def arp_ports(self) -> list[str]:
        """The ports the switch learned that MAC on."""
        mac = self.arp_mac()
        return sorted({e.port for e in (*self.on_port, *self.in_vlan, *self.device_seen) if mac and e.mac == mac})

    def arp_unanswered(self) -> bool:
        """The gateway's table was read and holds no answer for the server's address (unresolved or no entry)."""
        return self.arp is not None and bool(self.expected_ip) and self.arp_mac() is None

    def elsewhere(self) -> list[MacEntry]:
        """MACs in the request's VLAN learned on other ports of the switch."""
        return [e for e in self.in_vlan if e.port != self.port]

    def device_elsewhere(self) -> list[MacEntry]:
        """The server's own MACs learned on other ports only (none on its port): its cable is there."""
        if any(e.port == self.port for e in self.device_seen):
            return []
        return [e for e in self.device_seen if e.port != self.port]


@dataclass(frozen=True)
class Rule:
    code: str  # the conclusion's message: finding.conclusion.<code>
    applies: Callable[[PortFinding], bool]


RULES: tuple[Rule, ...] = (
    Rule("unreadable", lambda f: f.error is not None),
    Rule("cable_elsewhere", lambda f: bool(f.device_elsewhere())),
    # the server's address answers from a MAC the switch learned on other ports only
    Rule("ip_elsewhere", lambda f: bool(f.arp_ports()) and f.port not in f.arp_ports()),
    Rule("admin_down", lambda f: f.enabled is False),
    Rule("no_mac", lambda f: not f.on_port and f.link_up is not True),
    Rule("silent", lambda f: not f.on_port),
    Rule("wrong_vlan", lambda f: f.vlan is not None and all(e.vlan != f.vlan for e in f.on_port)),
    Rule("ip_conflict", lambda f: f.arp_mac() is not None and f.arp_mac() not in {e.mac for e in f.on_port}),
    Rule("arp_unanswered", lambda f: f.arp_unanswered()),
    Rule("arp_answered", lambda f: f.arp_mac() is not None),
    Rule("layer2_only", lambda f: True),
)


def conclude(finding: PortFinding) -> str:
    """The code of the first rule that applies (the last one always does)."""
    return next(r.code for r in RULES if r.applies(finding))


def _macs(entries: list[MacEntry] | tuple[MacEntry, ...], by: Callable[[MacEntry], str], lang: Language) -> str:
    return ", ".join(by(e) for e in sorted(entries, key=lambda e: (e.port, e.vlan, e.mac))) or t("finding.none", lang)


def _state(value: bool | None, lang: Language) -> str:
    return t("finding.unknown", lang) if value is None else UP if value else DOWN


def conclusion_text(finding: PortFinding, lang: Language) -> str:
    code = conclude(finding)
    values = {"switch": finding.switch, "port": finding.port, "vlan": finding.vlan or "-",
              "where": ", ".join(sorted({e.port for e in finding.device_elsewhere()})),
              "seen": ", ".join(str(v) for v in sorted({e.vlan for e in finding.on_port})),
              "macs": ", ".join(sorted({e.mac for e in finding.on_port})), "ip": finding.expected_ip or "-",
              "mac": finding.arp_mac() or "-", "arp_where": ", ".join(finding.arp_ports())}  # fmt: skip
    return t(f"finding.conclusion.{code}", lang, **values)


def arp_text(finding: PortFinding, lang: Language) -> str | None:
    """The gateway's ARP for people: the entry for the server's address (resolved to which MAC, learned where;
    unresolved; absent), or every entry where the request has no address of its own. None: nothing was asked."""
    f = finding
    device = f.gateway or "-"
    if f.arp_error is not None:
        return t("finding.arp.unavailable", lang, device=device, why=f.arp_error)
    if f.arp is None:
        return None
    unresolved = t("finding.arp.unresolved_short", lang)
    others = [f"{n.ip} {n.mac or unresolved}" for n in f.arp if n.ip != f.expected_ip]
    entries = ", ".join(others) or t("finding.none", lang)
    if not f.expected_ip:
        return t("finding.arp.entries", lang, device=device, vlan=f.vlan or "-", entries=entries)
    entry = f.arp_entry()
    if entry is None:
        return t("finding.arp.absent", lang, device=device, ip=f.expected_ip, vlan=f.vlan or "-", entries=entries)
    if entry.mac is None:
        return t("finding.arp.unresolved", lang, device=device, ip=f.expected_ip)
    ports = f.arp_ports()
    seen = t("finding.arp.seen", lang, ports=", ".join(ports)) if ports else t("finding.arp.not_seen", lang)
    return t("finding.arp.resolved", lang, device=device, ip=f.expected_ip, mac=entry.mac, seen=seen)


def render(finding: PortFinding, lang: Language) -> list[str]:
    """The finding for people, a line each: the port, what the switch learned, the conclusion."""
    f = finding
    if f.error is not None:
        lines = [t("finding.unreadable", lang, switch=f.switch, port=f.port, error=f.error)]
    else:
        lines = [
            t("finding.port", lang, port=f.port, switch=f.switch, link=_state(f.link_up, lang),
              admin=_state(f.enabled, lang)),
            t("finding.on_port", lang, macs=_macs(f.on_port, lambda e: f"{e.mac} (VLAN {e.vlan})", lang)),
            t("finding.in_vlan", lang, vlan=f.vlan or "-", macs=_macs(f.elsewhere(), lambda e: f"{e.port}: {e.mac}",
                                                                     lang)),
        ]  # fmt: skip
        if f.device_macs:
            seen = _macs(f.device_seen, lambda e: f"{e.port}: {e.mac} (VLAN {e.vlan})", lang)
            lines.append(t("finding.device", lang, macs=", ".join(f.device_macs), seen=seen))
    if (arp := arp_text(f, lang)) is not None:
        lines.append(arp)
    return [*lines, t("finding.conclusion", lang, text=conclusion_text(f, lang))]


def cabled_port(ctx: StepContext) -> tuple[Mapping[str, Any], str, int | None] | None:
    """(the cabling step's output, the port, the request's VLAN) as earlier steps recorded them; None: none did."""
    for cabling, configuring in CABLING:
        cabled = ctx.outputs.get(cabling)
        if cabled and cabled.get("port") and cabled.get("switch_id") is not None:
            vlan = (ctx.outputs.get(configuring) or {}).get("vlan")
            return cabled, str(cabled["port"]), int(vlan) if vlan is not None else None
    return None


def _device_macs(svc: Services, ctx: StepContext) -> tuple[str, ...]:
    """The server's MACs in NetBox (a device only); none when NetBox cannot say: the finding goes on without."""
    if ctx.request.object_type != "dcim.device":
        return ()
    try:
        return tuple(svc.netbox.device_macs(ctx.request.object_id))
    except StepCancelled:
        raise
    except Exception:
        return ()


def expected_ip(ctx: StepContext) -> str | None:
    """The server's address as the run reserved it, without its prefix length (None: the request has none)."""
    address = (ctx.outputs.get("reserve_ip") or {}).get("address")
    try:
        return str(ipaddress.ip_interface(str(address)).ip) if address else None
    except ValueError:
        return None


def gateway_device(ctx: StepContext) -> tuple[str | None, int | None] | None:
    """(name, NetBox id) of the device holding the request's VLAN gateway, as earlier steps recorded it (either may be
    None: not recorded); None: no step looked for the gateway."""
    router = ctx.outputs.get(GATEWAY_ROUTER) or {}
    if router.get("router_id") is not None:
        return (str(router["router"]) if router.get("router") else None), int(router["router_id"])
    if GATEWAY_CHECK in ctx.outputs:
        device = ctx.outputs[GATEWAY_CHECK].get("device")
        return (str(device) if device else None), None
    return None


def _gateway_switch(svc: Services, cabled: Mapping[str, Any], name: str | None, device_id: int | None,
                    lang: Language) -> Mapping[str, Any]:  # fmt: skip
    """The gateway's device as ``open_switch`` takes it: the cabled switch itself, else looked up in NetBox."""
    if _same_switch(cabled, name, device_id):
        return cabled
    # By id when the gateway check recorded it; a name alone only at the cabled switch's site (names repeat across
    # sites: another office's router would answer "no entry").
    site = (cabled.get("switch_ref") or {}).get("site")
    found = [s for s in svc.netbox.switches(svc.settings.switch_roles)
             if (s.id == device_id if device_id is not None else (s.name == name and s.site == site))]  # fmt: skip
    if not found:
        raise LookupError(t("finding.arp.not_a_switch", lang, device=name or device_id))
    return {"switch_id": found[0].id, "switch_ref": found[0].model_dump(mode="json")}


def read_gateway_arp(svc: Services, ctx: StepContext, cabled: Mapping[str, Any], vlan: int | None) -> dict[str, Any]:
    """The gateway's ARP entries in the VLAN, as fields of :class:`PortFinding` (none: nothing to ask). Never raises
    (but for the step's own cancellation): a device that cannot be read, or a table the switch does not show to
    dcagent's session, is said in ``arp_error``."""
    where = gateway_device(ctx)
    if where is None or vlan is None:
        return {}
    name, device_id = where
    lang = ctx.language
    if name is None and device_id is None:
        return {"arp_error": t("finding.arp.no_device", lang)}
    try:
        driver = open_switch(svc, _gateway_switch(svc, cabled, name, device_id, lang))
        try:
            entries = driver.gateway_neighbors(vlan)
        finally:
            driver.close()
    except StepCancelled:
        raise
    except Exception as e:  # the finding goes on without the gateway's ARP
        return {"gateway": name, "arp_error": str(e) or type(e).__name__}
    if entries is None:
        return {"gateway": name, "arp_error": t("finding.arp.refused", lang)}
    return {"gateway": name, "arp": tuple(entries)}


def gather(svc: Services, ctx: StepContext) -> PortFinding:
    """Read the finding from the switch, and the gateway's ARP from the device holding it. Never raises (but for the
    step's own cancellation): what could not be read is said in ``error`` (``arp_error``)."""
    found = _read_port(svc, ctx)
    where = cabled_port(ctx)
    if where is None:
        return found
    cabled, _, vlan = where
    gateway = gateway_device(ctx)
    if found.error is not None and gateway is not None and _same_switch(cabled, *gateway):
        return found  # the same switch: it could not be read, its ARP cannot either
    return found.model_copy(update={"expected_ip": expected_ip(ctx), **read_gateway_arp(svc, ctx, cabled, vlan)})


def _same_switch(cabled: Mapping[str, Any], name: str | None, device_id: int | None) -> bool:
    """Whether the gateway's device is the switch the server is cabled to."""
    same_id = device_id is not None and device_id == cabled.get("switch_id")
    return same_id or bool(name and name == cabled.get("switch"))


def _read_port(svc: Services, ctx: StepContext) -> PortFinding:
    """The port's states and the MACs the switch learned. Never raises (but for cancellation)."""
    where = cabled_port(ctx)
    if where is None:
        return PortFinding(error=t("finding.no_port", ctx.language))
    cabled, port, vlan = where
    base = PortFinding(switch=str(cabled.get("switch") or cabled["switch_id"]), port=port, vlan=vlan)
    device_macs = _device_macs(svc, ctx)
    try:
        driver = open_switch(svc, cabled)
        try:
            state = driver.get_port(port)
            on_port = driver.mac_table(port=port)
            in_vlan = driver.mac_table(vid=vlan) if vlan is not None else []
            every = driver.mac_table() if device_macs else []
        finally:
            driver.close()
    except StepCancelled:
        raise
    except Exception as e:  # a switch that cannot be read is a finding too
        return base.model_copy(update={"error": str(e) or type(e).__name__, "device_macs": device_macs})
    return base.model_copy(update={
        "enabled": state.enabled, "link_up": state.link_up, "on_port": tuple(on_port), "in_vlan": tuple(in_vlan),
        "device_macs": device_macs, "device_seen": tuple(e for e in every if e.mac in device_macs),
    })  # fmt: skip
