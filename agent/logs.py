"""Structured logs: one JSON event per line on stderr; run id and step ride along when set."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

run_id_var: ContextVar[str | None] = ContextVar("run_id", default=None)
step_var: ContextVar[str | None] = ContextVar("step", default=None)

_RESERVED = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "run_id": run_id_var.get(),
            "step": step_var.get(),
        }
        event.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str, ensure_ascii=False)


def setup_logging(level: str = "WARNING") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # paramiko logs host keys and banners at INFO; keep it quiet unless asked.
    logging.getLogger("paramiko").setLevel(max(root.level, logging.WARNING))
    # zabbix_utils logs every request body at DEBUG with the API token "masked" to its first and last four
    # characters: a fragment of a secret in the logs. Never below WARNING, whatever the level; dcagent's own
    # "api call" lines (method and time, dcagent.api) say what was called.
    logging.getLogger("zabbix_utils").setLevel(max(root.level, logging.WARNING))
    # WeasyPrint and fontTools warn about fonts and CSS on every document: noise on the operator's screen, shown
    # only when debugging.
    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.ERROR)
