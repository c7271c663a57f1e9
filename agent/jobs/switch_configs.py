"""Switch configuration backups, as Oxidized keeps them: every switch NetBox lists, its running configuration read
through the switch driver, one file per switch in a git repository, one commit per change. A change is journalled on
the switch's NetBox object with a diff summary; status and last success go to the switch's Zabbix trapper items.
One unreachable switch does not stop the others: results are values.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent.config import clients
from agent.engine.schedules import cron_interval
from agent.steps.backup_health import ensure_health, send_outcome
from agent.steps.services import Services
from integrations import process
from integrations.errors import IntegrationError, PermanentError
from integrations.netbox import SwitchRef
from integrations.switches import open_driver
from integrations.switches.secrets import mask_secrets

log = logging.getLogger("dcagent.jobs")
MARK = "[dcagent switch-config"


@dataclass(frozen=True)
class ConfigResult:
    switch: str
    status: str  # "changed", "unchanged", "failed"
    detail: str = ""
    commit: str | None = None


GIT_TIMEOUT = 120


def _git(repo: Path, *args: str) -> str:
    done = process.run(["git", "-C", str(repo), *args], "git", GIT_TIMEOUT)
    if done.returncode != 0:
        raise PermanentError("git", f"git {args[0]}: {done.stderr.strip()[-300:]}")
    return done.stdout


def ensure_repo(repo: Path) -> None:
    if (repo / ".git").is_dir():
        return
    repo.mkdir(parents=True, exist_ok=True)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.name", "dcagent")
    _git(repo, "config", "user.email", "dcagent@localhost")


def _normalise(config: str) -> str:
    # Lines that change on every read (clocks, uptimes) would make a commit every run.
    skip = ("! Time:", "! Last configuration change", "uptime", "Current configuration :")
    return "\n".join(line.rstrip() for line in config.splitlines() if not line.lstrip().startswith(skip)) + "\n"


def config_file(sw: SwitchRef) -> str:
    """The switch's file in the repository, from its NetBox name made safe: a name is whatever someone typed into
    NetBox, and ``../x`` or ``a/b`` must not write outside the repository or into a subdirectory."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", sw.name).lstrip(".")
    return f"{safe}.cfg" if safe else f"device-{sw.id}.cfg"


def _store(repo: Path, sw: SwitchRef, config: str) -> tuple[bool, str, str | None]:
    """Write and commit one switch's config, secrets masked; (changed, diff summary, commit id)."""
    name = config_file(sw)
    (repo / name).write_text(_normalise(mask_secrets(config, sw.platform or "")), encoding="utf-8")
    _git(repo, "add", "--", name)
    if not _git(repo, "status", "--porcelain", "--", name).strip():
        return False, "", None
    stat = _git(repo, "diff", "--cached", "--numstat", "--", name).split()
    added, removed = (stat[0], stat[1]) if len(stat) >= 2 else ("?", "?")
    diff = _git(repo, "diff", "--cached", "-U0", "--", name)
    lines = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    _git(repo, "commit", "-q", "-m", f"{sw.name}: +{added} -{removed}", "--", name)
    commit = _git(repo, "rev-parse", "--short", "HEAD").strip()
    summary = f"+{added} -{removed} baris/lines:\n```\n" + "\n".join(lines[:40]) + "\n```"
    return True, summary, commit


def _one(svc: Services, repo: Path, sw: SwitchRef) -> ConfigResult:
    ssh = svc.settings.switch_ssh
    if ssh is None or sw.host is None:
        return ConfigResult(sw.name, "failed", "no SSH settings or no primary IP in NetBox")
    driver = open_driver(sw.platform, sw.host, sw.ssh_port or ssh.port, clients.ssh_credentials(ssh), sw.name)
    try:
        config = driver.running_config()
    finally:
        driver.close()
    changed, summary, commit = _store(repo, sw, config)
    if changed:
        text = f"Konfigurasi switch berubah (commit {commit}) / configuration changed: {summary}\n\n{MARK} {commit}]"
        svc.netbox.add_journal("dcim.device", sw.id, "info", text)
    return ConfigResult(sw.name, "changed" if changed else "unchanged", summary, commit)


def backup_switch_configs(svc: Services) -> list[ConfigResult]:
    b = svc.backup
    repo = b.switch_configs_dir
    ensure_repo(repo)
    cron = b.switch_configs_schedule or "0 2 * * *"
    max_age = int(2 * cron_interval(cron, svc.settings.timezone, datetime.now(UTC)))
    results = []
    for sw in svc.netbox.switches(svc.settings.switch_roles):
        started = time.monotonic()
        try:
            result = _one(svc, repo, sw)
        except IntegrationError as e:
            result = ConfigResult(sw.name, "failed", str(e))
        results.append(result)
        log.info("switch config", extra={"switch": sw.name, "status": result.status, "commit": result.commit})
        try:
            ensure_health(svc, sw.name, sw.name, max(max_age, 60), sw.id)
            ok = result.status != "failed"
            size = (repo / config_file(sw)).stat().st_size if ok else 0
            send_outcome(svc, sw.name, ok, time.time(),
                         {"duration": time.monotonic() - started, "bytes": size, "files": 1}, attempts=7)  # fmt: skip
        except IntegrationError as e:  # health reporting must not hide the backup result
            log.error("switch config health not reported", extra={"switch": sw.name, "error": str(e)})
    return results
