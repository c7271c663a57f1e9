"""The on-call staff's two dashboards (issue 16), kept by `dcagent bootstrap`: "Kapasitas Data Center" (each
site's capacity figures and the low-capacity problems) and "dcagent" (the agents' heartbeat, queue and failed
requests, backup health, dcagent's problems, and graphs of the last day's runs by outcome and of steps against
their SOP standards). Widgets follow host groups and tags, not item ids, so a new site,
rack or agent node shows up without touching the dashboards."""

from __future__ import annotations

from agent.steps.backup_health import HOST_GROUP as BACKUP_GROUP
from agent.zabbix.capacity_telemetry import GROUP as CAPACITY_GROUP
from agent.zabbix.heartbeat import GROUP as AGENT_GROUP
from agent.zabbix.heartbeat import ITEMS as AGENT_ITEMS
from agent.zabbix.heartbeat import OUTCOMES, OVER, RUNS, WITHIN
from integrations.zabbix import ZabbixClient
from integrations.zabbix.dashboards import Widget

CAPACITY = "Kapasitas Data Center"
AGENT = "dcagent"
GROUP_FIELD, STRING_FIELD, INT_FIELD = 2, 1, 0


def _problems(name: str, x: int, y: int, width: int, groups: list[str], tag: tuple[str, str] | None) -> Widget:
    fields = [(GROUP_FIELD, "groupids", g) for g in groups]
    if tag is not None:
        fields += [(STRING_FIELD, "tags.tag.0", tag[0]), (INT_FIELD, "tags.operator.0", "1"),
                   (STRING_FIELD, "tags.value.0", tag[1])]  # fmt: skip
    return Widget(type="problems", name=name, x=x, y=y, width=width, height=5, fields=tuple(fields))


def _overview(name: str, x: int, y: int, width: int, groups: list[str]) -> Widget:
    """Every item of the groups' hosts with its latest value (Data overview; Zabbix 6.x)."""
    return Widget(type="dataover", name=name, x=x, y=y, width=width, height=8,
                  fields=tuple((GROUP_FIELD, "groupids", g) for g in groups))  # fmt: skip


# A graph's series by item name (the heartbeat's items), green for done, red for failed, amber for rejected.
COLOURS = {"done": "1A7F37", "failed": "D7263D", "rejected": "F2A541"}
_NAME = {i.key: i.name for i in AGENT_ITEMS}


def _graph(name: str, x: int, y: int, width: int, series: list[tuple[str, str]], v7: bool, ref: str) -> Widget:
    """A graph of items found by name on any host (each agent node's host: no item ids to keep up to date).
    Zabbix 7.0 renamed the data-set fields (``ds.0.items.0``) and asks for a widget reference."""
    fields: list[tuple[int, str, str]] = [(STRING_FIELD, "reference", ref)] if v7 else []
    for i, (item_name, colour) in enumerate(series):
        if v7:
            fields += [(STRING_FIELD, f"ds.{i}.hosts.0", "*"), (STRING_FIELD, f"ds.{i}.items.0", item_name),
                       (STRING_FIELD, f"ds.{i}.color", colour)]  # fmt: skip
        else:
            fields += [(STRING_FIELD, f"ds.hosts.{i}.0", "*"), (STRING_FIELD, f"ds.items.{i}.0", item_name),
                       (STRING_FIELD, f"ds.color.{i}", colour)]  # fmt: skip
    return Widget(type="svggraph", name=name, x=x, y=y, width=width, height=5, fields=tuple(fields))


def _capacity_graph(y: int, wide: int, v7: bool) -> Widget:
    """Every site's free shares (racks, feeds, UPS panels, prefixes, uplink) over time: their items are named
    "<what>: % …" by the capacity telemetry, which no other item is."""
    return _graph("Kapasitas kosong per site (%)", 0, y, wide, [("*: % *", "1F77B4")], v7, "DCCAP")


def _agent_graphs(y: int, wide: int, v7: bool) -> list[Widget]:
    runs = [(_NAME[RUNS.format(o)], COLOURS[o]) for o in OUTCOMES]
    steps = [(_NAME[OVER], COLOURS["failed"]), (_NAME[WITHIN], COLOURS["done"])]
    half = wide // 2
    return [_graph("Run per hasil (24 jam terakhir)", 0, y, half, runs, v7, "DCRUN"),
            _graph("Langkah terhadap standar waktu SOP (24 jam terakhir)", half, y, wide - half, steps, v7,
                   "DCSLA")]  # fmt: skip


def dashboards(z: ZabbixClient) -> dict[str, list[Widget]]:
    groups = dict(zip((CAPACITY_GROUP, AGENT_GROUP, BACKUP_GROUP),
                      z.ensure_host_groups([CAPACITY_GROUP, AGENT_GROUP, BACKUP_GROUP]), strict=True))  # fmt: skip
    wide = 72 if z.version_at_least("7.0") else 24  # the grid's columns
    overview = not z.version_at_least("7.0")  # Data overview left Zabbix in 7.0: problems only there
    capacity = [_problems("Kapasitas hampir habis", 0, 0, wide, [groups[CAPACITY_GROUP]], ("dcagent", "capacity"))]
    agent = [_problems("Masalah dcagent (agen, backup, permohonan gagal)", 0, 0, wide,
                       [groups[AGENT_GROUP], groups[BACKUP_GROUP]], None)]  # fmt: skip
    if overview:
        capacity.append(_overview("Kapasitas per site (unit rak, daya, UPS, uplink)", 0, 5, wide,
                                  [groups[CAPACITY_GROUP]]))  # fmt: skip
        agent.append(_overview("Agen dcagent dan kesehatan backup", 0, 5, wide,
                               [groups[AGENT_GROUP], groups[BACKUP_GROUP]]))  # fmt: skip
    agent += _agent_graphs(13 if overview else 5, wide, not overview)
    capacity.append(_capacity_graph(13 if overview else 5, wide, not overview))
    return {CAPACITY: capacity, AGENT: agent}


def ensure_dashboards(z: ZabbixClient) -> list[tuple[str, str]]:
    """(dashboard name, created | updated | unchanged) for each."""
    return [(name, z.ensure_dashboard(name, widgets)[1]) for name, widgets in dashboards(z).items()]
