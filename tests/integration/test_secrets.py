"""Secrets never leak (issue 12): after the lab suite's runs, every configured secret is searched in what dcagent
wrote or showed — NetBox journal entries, every run store and report the lab tests left, the output of the
operator commands that print settings, and the process arguments of a colocation run sampled while it runs."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.labkit import file_request, netbox, remove_request
from tests.integration.faults import configured_secrets, sample_arguments

DCAGENT = [sys.executable, "-m", "agent.cli", "--lang", "en"]
pytestmark = pytest.mark.serial  # last: it reads what the other lab tests left


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
    sampler = threading.Thread(target=sample_arguments, args=(stop, seen), daemon=True)
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
