"""Zabbix dashboards kept by `dcagent bootstrap`: created when missing, adopted by name, rewritten only when their
widgets differ from what dcagent wants (a second bootstrap changes nothing)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Widget(BaseModel):
    """A widget: its type (``problems``, ``dataover``…), title, place on the grid, and fields as the API takes
    them (``{"type": 2, "name": "groupids", "value": "12"}``)."""

    model_config = ConfigDict(frozen=True)

    type: str
    name: str
    x: int
    y: int
    width: int
    height: int
    fields: tuple[tuple[int, str, str], ...] = ()

    def api(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "x": self.x, "y": self.y, "width": self.width,
                "height": self.height, "view_mode": 0,
                "fields": [{"type": t, "name": n, "value": v} for t, n, v in self.fields]}  # fmt: skip


def _shape(widget: dict[str, Any]) -> tuple[Any, ...]:
    fields = tuple(sorted((int(f["type"]), str(f["name"]), str(f["value"])) for f in widget.get("fields") or []))
    return (str(widget["type"]), str(widget["name"]), int(widget["x"]), int(widget["y"]), int(widget["width"]),
            int(widget["height"]), fields)  # fmt: skip


class DashboardWrites:
    def call(self, method: str, params: dict[str, Any] | list[Any]) -> Any:  # pragma: no cover - the client's
        raise NotImplementedError

    def ensure_dashboard(self, name: str, widgets: list[Widget]) -> tuple[str, str]:
        """(dashboardid, created | updated | unchanged)."""
        pages = [{"widgets": [w.api() for w in widgets]}]
        found = self.call("dashboard.get", {"output": ["dashboardid", "name"], "selectPages": "extend",
                                            "filter": {"name": name}})  # fmt: skip
        if not found:
            made = self.call("dashboard.create", {"name": name, "display_period": 30, "auto_start": 1,
                                                  "pages": pages})  # fmt: skip
            return str(made["dashboardids"][0]), "created"
        board = found[0]
        have = sorted(_shape(w) for p in board.get("pages") or [] for w in p.get("widgets") or [])
        if len(board.get("pages") or []) == 1 and have == sorted(_shape(w) for w in pages[0]["widgets"]):
            return str(board["dashboardid"]), "unchanged"
        self.call("dashboard.update", {"dashboardid": board["dashboardid"], "pages": pages})
        return str(board["dashboardid"]), "updated"
