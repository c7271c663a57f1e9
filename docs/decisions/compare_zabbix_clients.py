"""Evidence for docs/decisions/0001-zabbix-client.md: pyzabbix vs zabbix_utils against the lab's Zabbix.

Run after lab/up with lab/lab.env sourced: `.venv/bin/python docs/decisions/compare_zabbix_clients.py`.
Prints one line per property measured; creates and deletes its own host group.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyzabbix
import zabbix_utils

URL = os.environ["DCAGENT_ZABBIX__URL"].rstrip("/")
TOKEN = Path(os.environ["DCAGENT_ZABBIX__TOKEN_FILE"]).read_text().strip()


def timed(fn: Callable[[], Any], n: int = 50) -> str:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return f"median {statistics.median(samples):.1f} ms, p90 {sorted(samples)[int(n * 0.9)]:.1f} ms over {n}"


def outcome(fn: Callable[[], Any]) -> str:
    try:
        return f"returned {fn()!r}"
    except Exception as e:
        return f"raised {type(e).__name__}: {str(e)[:90]}"


def main() -> None:
    zu = zabbix_utils.ZabbixAPI(url=URL, token=TOKEN)
    pz = pyzabbix.ZabbixAPI(URL)
    pz.login(api_token=TOKEN)
    print(f"zabbix_utils {md.version('zabbix-utils')}: server version {zu.version} ({type(zu.version).__name__})")
    print(f"pyzabbix {md.version('pyzabbix')}: server version {pz.api_version()} ({type(pz.api_version()).__name__})")
    print(f"host.get latency, zabbix_utils: {timed(lambda: zu.host.get(limit=1))}")
    print(f"host.get latency, pyzabbix:     {timed(lambda: pz.host.get(limit=1))}")
    group = f"compare-{uuid.uuid4().hex[:6]}"
    gid = zu.hostgroup.create(name=group)["groupids"][0]
    dup = {"host": "Zabbix server", "groups": [{"groupid": gid}]}
    print(f"duplicate host.create, zabbix_utils: {outcome(lambda: zu.host.create(**dup))}")
    print(f"duplicate host.create, pyzabbix:     {outcome(lambda: pz.host.create(**dup))}")

    def pz_with_block() -> str:
        with pyzabbix.ZabbixAPI(URL) as api:
            api.login(api_token=TOKEN)
            api.host.create(**dup)
        return "with-block exited normally: the API error was swallowed"

    print(f"duplicate host.create inside `with`, pyzabbix: {outcome(pz_with_block)}")
    print(f"hostgroup.delete([id]) positional list, pyzabbix: {outcome(lambda: pz.hostgroup.delete([gid]))}")
    print(f"hostgroup.delete(id), zabbix_utils: {outcome(lambda: zu.hostgroup.delete(gid))}")
    print(f"sender protocol: zabbix_utils.Sender={hasattr(zabbix_utils, 'Sender')}, "
          f"pyzabbix has sender={any('sender' in n.lower() for n in dir(pyzabbix))}")  # fmt: skip
    print("transport: zabbix_utils urllib (stdlib), pyzabbix requests.Session")


if __name__ == "__main__":
    main()
