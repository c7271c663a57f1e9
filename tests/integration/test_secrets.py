"""Secrets never leak (issue 12): after the lab suite's runs, every configured secret is searched in what dcagent
wrote or showed — NetBox journal entries, every run store and report the lab tests left, the output of the
operator commands that print settings, and the process arguments of a colocation run sampled while it runs."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from agent.settings import load_settings
from lab.labkit import file_request, netbox, remove_request

DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]
pytestmark = pytest.mark.serial  # last: it reads what the other lab tests left


def _secrets_in(model: BaseModel) -> Iterator[str]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield value.get_secret_value()
        elif isinstance(value, BaseModel):
            yield from _secrets_in(value)


def configured_secrets() -> set[str]:
    found = set(_secrets_in(load_settings(None)))
    officials = Path(os.environ["DCAGENT_NETBOX__TOKEN_FILE"]).parent / "netbox-officials.json"
    if officials.exists():
        found |= set(json.loads(officials.read_text()).values())
    # A v2 token's key (nbt_<key>.) names the token in NetBox's own UI; its part after the dot is the secret.
    parts = {s.split(".", 1)[1] for s in found if s.startswith("nbt_") and "." in s}
    return {s for s in found | parts if len(s) >= 8}


def _sample_arguments(stop: threading.Event, seen: set[str]) -> None:
    while not stop.is_set():
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                seen.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
        time.sleep(0.05)


def _written_by_tests() -> Iterator[tuple[str, str]]:
    """Run stores, reports and logs under every pytest base directory of this user (both phases of the suite)."""
    root = Path(f"/tmp/pytest-of-{getpass.getuser()}")
    for path in root.glob("pytest-*/**/*"):
        if path.suffix in {".sqlite3", ".html", ".json", ".log", ".txt"} and path.is_file():
            yield str(path), path.read_bytes().decode(errors="replace")


def test_no_configured_secret_appears_anywhere_dcagent_writes(tmp_path: Path) -> None:
    secrets = configured_secrets()
    assert len(secrets) >= 5, "the lab configures NetBox, Zabbix, DNS, backup, webhook and API secrets"
    nb = netbox()
    env = {**os.environ, "DCAGENT_STORE_URL": f"sqlite:///{tmp_path / 'runs.sqlite3'}",
           "DCAGENT_REPORTS_DIR": str(tmp_path / "reports"), "COLUMNS": "200"}  # fmt: skip
    texts: list[tuple[str, str]] = []
    dev = file_request(nb, prefix="srv-secrets")
    seen: set[str] = set()
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_arguments, args=(stop, seen), daemon=True)
    sampler.start()
    try:
        for args in (["--log-level", "DEBUG", "run", "colocation", f"device:{dev.name}"], ["config"], ["doctor"],
                     ["plan", "colocation", f"device:{dev.name}"]):  # fmt: skip
            out = subprocess.run([*DCAGENT, *args], env=env, capture_output=True, text=True, timeout=400, check=False)
            texts.append((" ".join(args[:3]), out.stdout + out.stderr))
    finally:
        stop.set()
        sampler.join(5)
        remove_request(nb, dev)
    texts += [(f"process {i}", args) for i, args in enumerate(sorted(seen))]
    texts += [(f"journal {j.id}", str(j.comments)) for j in nb.extras.journal_entries.all(limit=1000)]
    texts += list(_written_by_tests())
    texts += [(str(p), p.read_text(errors="replace")) for p in tmp_path.rglob("*") if p.is_file()]
    hits = [(where, secret[:4] + "…") for where, text in texts for secret in secrets if secret in text]
    assert len(texts) > 50 and hits == [], hits
