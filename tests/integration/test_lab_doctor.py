from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import BACKUP_SERVER

pytestmark = pytest.mark.smoke  # the lab answers: part of `make test-fast`

DCAGENT = [sys.executable, "-m", "agent.cli"]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DCAGENT, *args], env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=120, check=False
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.xdist_group(BACKUP_SERVER)  # reads the restic repository a backup may be pruning
def test_doctor_is_all_green_against_the_lab() -> None:
    result = run(dict(os.environ), "--lang", "en", "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for system in ("NetBox", "Zabbix", "Switch", "DNS", "Backup"):
        assert system in out
    assert "FAILED" not in out and "SKIPPED" not in out
    # Each of the lab's three switches reached and its host key checked (tests running at the same time may add
    # switch records of their own: those are checked too, and not counted here).
    for switch in ("tor-btm-01 (127.0.1.1:2201)", "tor-btm-02 (127.0.1.2:2202)", "tor-sbw-01 (127.0.1.3:2203)"):
        assert any(switch in line and "verified" in line for line in out.splitlines()), switch
    assert "All required checks passed." in out


def test_doctor_names_a_stopped_netbox_and_why() -> None:
    env = {**os.environ, "DCAGENT_NETBOX__URL": f"http://127.0.0.1:{closed_port()}"}
    result = run(env, "--lang", "en", "doctor")
    assert result.returncode == 1
    netbox_rows = [line for line in result.stdout.splitlines() if "NetBox" in line]
    assert netbox_rows and "FAILED" in netbox_rows[0] and "connection refused" in netbox_rows[0]
    # Zabbix does not depend on NetBox: it still reports its own state.
    assert any("Zabbix" in line and "OK" in line for line in result.stdout.splitlines())


def test_config_hides_secrets() -> None:
    result = run(dict(os.environ), "config", "--json")
    assert result.returncode == 0, result.stderr
    token = Path(os.environ["DCAGENT_NETBOX__TOKEN_FILE"]).read_text().strip()
    assert token not in result.stdout
    assert '"token": "***"' in result.stdout


def test_wrong_settings_give_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = {
        "DCAGENT_NETBOX__URL": "htp:/broken",
        "DCAGENT_NETBOX__TOKEN": "",
    }
    for key, value in cases.items():
        env = {k: v for k, v in os.environ.items() if k != "DCAGENT_NETBOX__TOKEN_FILE"}
        env.setdefault("DCAGENT_NETBOX__TOKEN", "nbt_x.y")
        env[key] = value
        result = run(env, "doctor")
        assert result.returncode == 2, (key, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and key.removeprefix("DCAGENT_").lower().replace("__", ".") in lines[0]
    cfg = tmp_path / "c.toml"
    cfg.write_text("[netbox]\nurll = 'http://x'\n")
    result = run(dict(os.environ), "--config", str(cfg), "doctor")
    assert result.returncode == 2
    assert result.stderr.strip() == f"dcagent: Kesalahan pengaturan: unknown setting netbox.urll in config file {cfg}"
