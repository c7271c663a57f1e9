"""The demo: one colocation request end to end on the lab — record it in NetBox as an engineer would, approve it,
show the dry-run plan, run it until it waits for the server, play the agency (the server configured with the
address, mask and gateway the run reserved) and the technician (the server mounted and cabled to the port the run
chose, its arrival recorded in NetBox), let the run finish — Zabbix must see the server answer through its port,
VLAN 130 and the routing switch's gateway, on the lab's data plane —, and point at the Berita Acara. Idempotent: a
handled request is shown, not redone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pynetbox

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: lab/ is a package of it
from lab import dataplane
from lab.labkit import cabled_port, chain, decide, deliver

NAME = "srv-disdik-simpeg"
DCAGENT = [str(Path(sys.executable).with_name("dcagent"))]
WAITING = 5  # `dcagent run`'s exit code for a run that waits (here: for the server)


def finish_after_delivery(nb: Any, dev: Any) -> int:
    """The technician records the server's arrival (labkit.deliver: as the lab user `teknisi`, through its own
    token); the run looks again at its next poll (every 60 s), so `dcagent run` is asked until it is past the wait."""
    fresh = nb.dcim.devices.get(dev.id)
    switch, port = cabled_port(nb, dev)
    address = str(fresh.primary_ip4.address)
    prefix = nb.ipam.prefixes.get(vlan_id=fresh.custom_fields["dcagent_server_vlan"]["id"])
    [gateway] = list(nb.ipam.ip_addresses.filter(parent=str(prefix.prefix), role="anycast"))
    dataplane.plug(NAME, switch, port)
    dataplane.configure(NAME, address, str(gateway.address).split("/")[0])
    print(f"demo: the agency configured {NAME} with {address}, gateway {gateway.address} (the letter's values);")
    print(f"demo: the technician mounted it and cabled it to {switch} {port}")
    if "delivered" not in {t.slug for t in fresh.tags}:
        deliver(dev)
    print(f"demo: teknisi recorded the arrival of {NAME} in NetBox (tag delivered, serial, U height, PSU count)")
    print("demo: the run looks at once (NetBox's webhook under `dcagent serve`, here this `dcagent run`)")
    for _ in range(24):
        done = subprocess.run([*DCAGENT, "run", "colocation", f"device:{NAME}"], check=False, capture_output=True,
                              text=True)  # fmt: skip
        if done.returncode != WAITING:
            print(done.stdout, end="")
            print(done.stderr, end="", file=sys.stderr)
            return done.returncode
        time.sleep(10)
    print("demo: the run still waits; `dcagent runs` shows why", file=sys.stderr)
    return WAITING


def main() -> int:
    token = Path(os.environ["DCAGENT_NETBOX__TOKEN_FILE"]).read_text().strip()
    nb = pynetbox.api(os.environ["DCAGENT_NETBOX__URL"], token=token)
    dev = nb.dcim.devices.get(name=NAME)
    if dev is None:
        site = nb.dcim.sites.get(slug="dc-batam")
        dev = nb.dcim.devices.create({
            "name": NAME, "site": site.id, "role": nb.dcim.device_roles.get(slug="server").id,
            "device_type": nb.dcim.device_types.get(slug="poweredge-r750").id,
            "platform": nb.dcim.platforms.get(slug="linux").id, "tenant": nb.tenancy.tenants.get(slug="disdik").id,
            "status": "planned", "serial": "CN7X2PQ0042",
            "custom_fields": {
                "dcagent_letter_number": "800/1123/DISDIK/XI/2026",
                "dcagent_requester_contact": "Rina Handayani, Kasubbag Program, 0812-7000-1234",
                "dcagent_fqdn": "simpeg.dc.lab", "dcagent_bandwidth_mbps": 100,
                "dcagent_server_vlan": nb.ipam.vlans.get(vid=130, group="vlan-dc-batam").id,
            },
            "tags": [{"slug": "sop-colocation"}],
        })  # fmt: skip
        print(f"demo: recorded the request {NAME} (planned, tag sop-colocation)")
        subprocess.run([*DCAGENT, "plan", "colocation", f"device:{NAME}"], check=True)
        for tag, official in chain("dc-batam"):
            decide(dev, tag, official)
            print(f"demo: {official} decided it (tag {tag})")
    tags = {t.slug for t in nb.dcim.devices.get(dev.id).tags}
    if "dcagent-done" in tags:
        print(f"demo: {NAME} was already handled; its runs:")
        return subprocess.run([*DCAGENT, "runs", "--playbook", "colocation"], check=False).returncode
    code = subprocess.run([*DCAGENT, "run", "colocation", f"device:{NAME}"], check=False).returncode
    if code == WAITING:  # everything is reserved; the server has not arrived (the run's reason says who must act)
        print(f"demo: {NAME} is reserved and waits for its server: the agency ships it, the technician records it")
        code = finish_after_delivery(nb, dev)
    reports = Path(os.environ.get("DCAGENT_REPORTS_DIR", "."))
    for pdf in sorted(reports.glob("*/berita-acara.pdf")):
        print(f"demo: Berita Acara {pdf}")
    return code


if __name__ == "__main__":
    sys.exit(main())
