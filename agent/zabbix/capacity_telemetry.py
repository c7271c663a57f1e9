"""Capacity in Zabbix for the on-call staff (issue 16): per site, the figures the capacity check computes — each
rack's free units and largest free block, each feed's headroom, each UPS panel's budget left, the uplink's Mbps
left — and each prefix's free addresses, sent as trapper values to a "capacity" host per site, with a trigger when
a figure's free share falls under ``capacity_alert_percent``. NetBox's API gives no utilisation of racks, power or
prefixes: Zabbix then keeps the trend.

Items and triggers are created when a rack, feed or panel first appears (in bulk; nothing is rewritten on later
sends); the values go in one sender call per site."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent.config.settings import Settings
from agent.domain.capacity import blocked_units, feed_capacity_w
from agent.engine.playbook import Playbook
from agent.i18n import t
from agent.steps.services import Services
from integrations.errors import IntegrationError, TransientError
from integrations.netbox import NetBoxClient, SiteCapacity
from integrations.netbox.inventory import PrefixUsage
from integrations.zabbix import ZabbixClient

log = logging.getLogger("dcagent.capacity")
GROUP = "dcagent/Kapasitas"
# Steps that change a site's rack space, power, addresses or bandwidth: a done run of any playbook with one (an
# office's own included) refreshes the capacity figures in Zabbix.
CAPACITY_STEPS = frozenset({"place_device", "unrack_device", "allocate_prefix", "change_commit_rate"})


def changes_capacity(playbook: Playbook | None) -> bool:
    return playbook is not None and any(ref.step in CAPACITY_STEPS for ref in playbook.steps)


@dataclass(frozen=True)
class Figure:
    key: str  # Zabbix item key, e.g. dc.rack.free_u["R01"]
    name: str  # for people, in Indonesian (the on-call staff's dashboards)
    value: float
    units: str = ""
    percent: bool = False  # a free share in %: the low-capacity trigger watches it; named "<what>: % …" (graphs)


def _q(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _largest_block(free: set[int], height: int) -> int:
    best = run = 0
    for u in range(1, height + 1):
        run = run + 1 if u in free else 0
        best = max(best, run)
    return best


def figures(site: SiteCapacity, prefixes: Sequence[PrefixUsage] = ()) -> list[Figure]:
    """The site's capacity as numbers, from one read of it (the capacity check's own model) and of its prefixes."""
    out: list[Figure] = []
    for rack in site.racks:
        free = set(range(1, rack.u_height + 1)) - blocked_units(rack, "front", True)
        q = _q(rack.name)
        out += [Figure(f"dc.rack.free_u[{q}]", f"Rak {rack.name}: unit kosong", len(free), "U"),
                Figure(f"dc.rack.block_u[{q}]", f"Rak {rack.name}: blok kosong terbesar", _largest_block(free,
                       rack.u_height), "U"),
                Figure(f"dc.rack.pfree[{q}]", f"Rak {rack.name}: % ruang kosong", round(100 * len(free) /
                       max(1, rack.u_height), 1), "%", True)]  # fmt: skip
    feeds = {f.id: f for feeds in site.power.feeds_by_rack.values() for f in feeds}
    for feed in sorted(feeds.values(), key=lambda f: f.name):
        cap, q = feed_capacity_w(feed), _q(feed.name)
        out += [Figure(f"dc.feed.headroom_w[{q}]", f"Feed {feed.name}: sisa daya", round(cap - feed.allocated_w), "W"),
                Figure(f"dc.feed.pfree[{q}]", f"Feed {feed.name}: % sisa daya", round(100 * (cap - feed.allocated_w) /
                       max(1.0, cap), 1), "%", True)]  # fmt: skip
    for panel in sorted(site.power.panels.values(), key=lambda p: p.name):
        if panel.ups_budget_w:
            left, q = panel.ups_budget_w - panel.allocated_w, _q(panel.name)
            out += [Figure(f"dc.ups.left_w[{q}]", f"UPS {panel.name}: sisa anggaran daya", round(left), "W"),
                    Figure(f"dc.ups.pfree[{q}]", f"UPS {panel.name}: % sisa anggaran daya",
                           round(100 * left / panel.ups_budget_w, 1), "%", True)]  # fmt: skip
    if site.uplink_mbps:
        left = site.uplink_mbps - site.granted_mbps(exclude_device=0)
        out += [Figure("dc.uplink.left_mbps", "Uplink: bandwidth tersisa", left, "Mbps"),
                Figure("dc.uplink.pfree", "Uplink: % bandwidth tersisa", round(100 * left / site.uplink_mbps, 1), "%",
                       True)]  # fmt: skip
    for p in prefixes:
        q = _q(p.prefix)
        out += [Figure(f"dc.prefix.free[{q}]", f"Prefix {p.prefix}: alamat kosong", p.free),
                Figure(f"dc.prefix.pfree[{q}]", f"Prefix {p.prefix}: % alamat kosong",
                       round(100 * p.free / max(1, p.size), 1), "%", True)]  # fmt: skip
    return out


def refresh_after_run(svc: Services, s: Settings, playbook: Playbook | None, site: str | None) -> str | None:
    """After a done run outside ``serve`` (the CLI's): the run's site's figures, if its playbook changes capacity
    and capacity is watched; a line for people, or None when nothing was due. Never raises: the run is done."""
    if not (site and s.capacity_interval_minutes > 0 and changes_capacity(playbook)):
        return None
    if s.capacity_sites and site not in s.capacity_sites:
        return None
    try:
        sent = CapacityTelemetry.of(svc, s, [site]).run(strict=True)
    except IntegrationError as e:
        return t("capacity.not_sent", s.language, site=site, error=str(e))
    return t("capacity.sent", s.language, site=site, count=sent.get(site, 0))


def capacity_host(site: str) -> str:
    return f"dc-capacity-{site}"


@dataclass
class CapacityTelemetry:
    netbox: NetBoxClient
    zabbix: ZabbixClient
    send: Callable[[str, dict[str, str | int | float]], None]  # Services.send_health
    switch_roles: list[str]
    alert_percent: float = 10.0
    sites: Sequence[str] = ()  # slugs; empty: every site with racks
    send_attempts: int = 6
    sleep: Callable[[float], None] = time.sleep
    _known: dict[str, set[str]] = field(default_factory=dict)  # host → item keys made (this process)

    @classmethod
    def of(cls, svc: Services, s: Settings, sites: Sequence[str] | None = None) -> CapacityTelemetry:
        """As the settings say, for their sites (or ``sites``)."""
        return cls(svc.netbox, svc.zabbix, svc.send_health, s.switch_roles, s.capacity_alert_percent,
                   s.capacity_sites if sites is None else sites)  # fmt: skip

    def run(self, strict: bool = False) -> dict[str, int]:
        """Send every site's figures; returns values sent per site. One site failing does not stop the others
        (``strict``: it raises, for a caller sending one site)."""
        sent: dict[str, int] = {}
        for slug, site_id in self.netbox.site_ids(list(self.sites)).items():
            try:
                site = self.netbox.site_capacity(site_id, self.switch_roles)
                if not site.racks:
                    continue
                sent[slug] = self.send_site(slug, figures(site, self.netbox.prefix_usage(site_id)))
            except IntegrationError as e:
                if strict:
                    raise
                log.warning("capacity not sent", extra={"site": slug, "error": str(e)})
        return sent

    def send_site(self, slug: str, values: list[Figure]) -> int:
        host = capacity_host(slug)
        keys = {f.key for f in values}
        if not keys <= self._known.get(host, set()):
            self.ensure(host, slug, values)
            self._known[host] = self._known.get(host, set()) | keys
        payload: dict[str, str | int | float] = {f.key: f.value for f in values}
        for attempt in range(self.send_attempts):  # new items are accepted once the server's cache has them
            try:
                self.send(host, payload)
                break
            except TransientError:
                if attempt == self.send_attempts - 1:
                    raise
                self.sleep(min(30.0, 2.0 * 2**attempt))
        return len(values)

    def ensure(self, host: str, slug: str, values: list[Figure]) -> None:
        """The site's capacity host, its items and low-capacity triggers: only the missing ones are created, an
        item named otherwise (an earlier version's name) renamed — the dashboards find items by name."""
        z = self.zabbix
        host_id, _ = z.ensure_plain_host(host, f"Kapasitas {slug}", GROUP)
        have = {str(i["key_"]): i for i in z.call("item.get", {"hostids": [host_id], "output": ["key_", "name"]})}
        new = [{"hostid": host_id, "key_": f.key, "name": f.name, "type": 2, "value_type": 0, "units": f.units,
                "tags": [{"tag": "capacity", "value": f.key.split("[")[0]}]}
               for f in values if f.key not in have]  # fmt: skip
        if new:
            z.bulk("item.create", new, "itemids")
        renamed = [{"itemid": have[f.key]["itemid"], "name": f.name} for f in values
                   if f.key in have and have[f.key].get("name") != f.name]  # fmt: skip
        if renamed:
            z.bulk("item.update", renamed, "itemids")
        triggers = {str(tr["description"]) for tr in z.call("trigger.get", {"hostids": [host_id],
                                                                           "output": ["description"]})}  # fmt: skip
        wanted = [{"description": f"Kapasitas {slug}: {f.name.replace(': % ', ': ')} di bawah {self.alert_percent:g}%",
                   "expression": f"last(/{host}/{f.key})<{self.alert_percent:g}", "priority": 2,
                   "tags": [{"tag": "dcagent", "value": "capacity"}]}
                  for f in values if f.percent]  # fmt: skip
        missing = [w for w in wanted if w["description"] not in triggers]
        if missing:
            z.bulk("trigger.create", missing, "triggerids")
