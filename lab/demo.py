"""The demo: one colocation request end to end on the lab — record it in NetBox as an engineer would, approve it,
show the dry-run plan, run it, and point at the Berita Acara. Idempotent: a handled request is shown, not redone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pynetbox
from labkit import chain, decide  # lab/ is the script's directory

NAME = "srv-disdik-simpeg"
DCAGENT = [str(Path(sys.executable).with_name("dcagent"))]


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
                "dcagent_server_vlan": nb.ipam.vlans.get(vid=110, group="vlan-dc-batam").id,
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
    reports = Path(os.environ.get("DCAGENT_REPORTS_DIR", "."))
    for pdf in sorted(reports.glob("*/berita-acara.pdf")):
        print(f"demo: Berita Acara {pdf}")
    return code


if __name__ == "__main__":
    sys.exit(main())
