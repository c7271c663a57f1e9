"""What the switch says when Zabbix does not see a new server answer (SOP 003 step 11: "apabila terdapat kendala akan
dilakukan konfigurasi ulang"): the states of the port the server is cabled to, the MACs the switch learned on it and
in the request's VLAN, and a conclusion a technician can act on.

Reading it never fails the step: a switch that cannot be read is a finding too. The conclusion is the first of
:data:`RULES` that applies, each a plain test of the facts read (unit-tested one by one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from agent.engine.cancel import StepCancelled
from agent.engine.registry import StepContext
from agent.i18n import Language, t
from agent.steps.services import Services
from agent.steps.switchport import open_switch
from integrations.switches.base import MacEntry

# Where earlier steps recorded the switch port a request's object is cabled to: (the cabling step, the step that
# configured the port, whose output names the VLAN). The colocation's server port, the new connection's port.
CABLING = (("cable_switch_port", "configure_switch_port"), ("cable_connection", "configure_connection_port"))
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
    Rule("admin_down", lambda f: f.enabled is False),
    Rule("no_mac", lambda f: not f.on_port and f.link_up is not True),
    Rule("silent", lambda f: not f.on_port),
    Rule("wrong_vlan", lambda f: f.vlan is not None and all(e.vlan != f.vlan for e in f.on_port)),
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
              "macs": ", ".join(sorted({e.mac for e in finding.on_port}))}  # fmt: skip
    return t(f"finding.conclusion.{code}", lang, **values)


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


def gather(svc: Services, ctx: StepContext) -> PortFinding:
    """Read the finding from the switch. Never raises (but for the step's own cancellation): what could not be read
    is said in ``error``."""
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
