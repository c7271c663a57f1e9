"""The ``dcagent`` command: wires settings and clients to the work; no logic of its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agent import __version__
from agent.doctor import run_doctor
from agent.i18n import Language, t
from agent.logs import setup_logging
from agent.settings import Settings, SettingsError, load_settings, redacted

EXIT_SETTINGS = 2

app = typer.Typer(
    name="dcagent",
    help=(
        "dcagent turns data-centre SOPs (colocation, new network, maintenance, withdrawal, backup, restore) "
        "into automated runs on top of NetBox and Zabbix.\n\n"
        "Settings come from DCAGENT_* environment variables, DCAGENT_*_FILE secret files and a TOML config "
        "file (see config/dcagent.example.toml)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


class State:
    config: Path | None = None
    language: Language | None = None


_state = State()


@app.callback()
def _main(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config file (default: $DCAGENT_CONFIG).")
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Language for people: id (default) or en.")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="Structured log level on stderr.")] = "WARNING",
) -> None:
    setup_logging(log_level)
    _state.config = config
    if lang is not None and lang not in ("id", "en"):
        err.print(f"--lang must be id or en, not {lang!r}")
        raise typer.Exit(EXIT_SETTINGS)
    _state.language = lang  # type: ignore[assignment]


def _settings() -> Settings:
    try:
        return load_settings(_state.config)
    except SettingsError as e:
        lang: Language = _state.language or "id"
        err.print(f"dcagent: {t('settings.error', lang)}: {e}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_SETTINGS) from None


def _lang(s: Settings) -> Language:
    return _state.language or s.language


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", "-" if value is None else str(value)))
    return rows


@app.command("config")
def config_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show the effective settings (secrets as ***)."""
    data = redacted(_settings())
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = Table("key", "value", title="dcagent settings")
    for key, value in _flatten(data):
        table.add_row(key, value)
    out.print(table)


@app.command()
def doctor() -> None:
    """Check every configured system: NetBox, Zabbix, switches (SSH, verified host keys), DNS, backup."""
    s = _settings()
    lang = _lang(s)
    results = run_doctor(s, lang)
    table = Table(
        t("doctor.system", lang), t("doctor.target", lang), t("doctor.status", lang), t("doctor.detail", lang),
        title=t("doctor.title", lang),
    )  # fmt: skip
    for r in results:
        status = (
            f"[yellow]{t('doctor.skip', lang)}[/]"
            if r.ok is None
            else f"[green]{t('doctor.ok', lang)}[/]"
            if r.ok
            else f"[red]{t('doctor.fail', lang)}[/]"
        )
        table.add_row(r.system, r.target, status, r.detail)
    out.print(table)
    failed = sum(r.failed for r in results)
    if failed:
        out.print(t("doctor.summary_fail", lang, n=failed))
        raise typer.Exit(1)
    out.print(t("doctor.summary_ok", lang))


@app.command()
def version() -> None:
    """Print dcagent's version."""
    out.print(__version__)


def main() -> None:
    app(prog_name="dcagent")


if __name__ == "__main__":
    main()
