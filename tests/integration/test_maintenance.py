"""Server maintenance (SOP 002) and withdrawal on the lab: a colocated server's window puts its host in Zabbix
maintenance, sets its NetBox status for the window, tells the agency's contact by e-mail (Postfix, read from its
Maildir), reports a switch port that disagrees with NetBox, and ends on time in an agent started after the one that
began it; a withdrawal leaves nothing of the server in any system, and a second one changes nothing."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import clients
from agent.config.settings import load_settings
from agent.engine.registry import ObjectRef
from agent.engine.store import Store
from integrations.dns import reverse_name
from integrations.switches import open_driver
from lab.labkit import decide, file_request, remove_request
from tests.integration import test_colocation as colocation
from tests.integration.faults import draw, kill_inside, restart, run_reader, tally
from tests.integration.helpers import healthy, private_playbooks, wait_for
from tests.integration.test_colocation import DCAGENT, REPO_PLAYBOOKS, ovs_port, run

nb, env = colocation.nb, colocation.env  # the colocation tests' fixtures: a server is colocated first
MAINT_TAG = "sop-maintenance-lab"
WITHDRAW_TAG = "sop-withdrawal-lab"
SERVE_PORT = 18097


def _mail_to(address: str) -> list[Message]:
    inbox = Path(os.environ["LAB_MAIL_DIR"]) / "inbox" / "new"
    found = [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in inbox.glob("*") if f.is_file()]
    # The colocation before each test mailed the agency too (ship_request: what its server must carry): not these.
    return [m for m in found if m.get("Delivered-To") == address and "ship-request" not in str(m.get("Message-ID"))]


def _remove(nb: Any, zabbix: Any, dev: Any, agency: tuple[Any, ...]) -> None:
    """What a maintenance test made: its Zabbix periods, the colocated request, its agency (link, contact, tenant)."""
    host_id = zabbix.host_id(dev.name)
    for m in zabbix.maintenances_of(host_id) if host_id else []:
        zabbix.delete_maintenance(m.id)
    remove_request(nb, dev)
    for obj in agency:
        obj.delete()


def _agency(nb: Any) -> tuple[Any, Any, Any, str]:
    """An agency of the test's own with one technical contact (the notices' addressee)."""
    key = uuid.uuid4().hex[:6]
    tenant = nb.tenancy.tenants.create({"name": f"OPD Uji {key}", "slug": f"opd-uji-{key}"})
    address = f"pic-{key}@{os.environ['LAB_MAIL_DOMAIN']}"
    contact = nb.tenancy.contacts.create({"name": f"PIC {key}", "email": address})
    role = nb.tenancy.contact_roles.get(slug="teknis")
    link = nb.tenancy.contact_assignments.create({"object_type": "tenancy.tenant", "object_id": tenant.id,
                                                  "contact": contact.id, "role": role.id})  # fmt: skip
    return tenant, contact, link, address


@pytest.mark.long(minutes=4)
def test_a_maintenance_window_silences_zabbix_tells_the_agency_and_ends_on_time_in_the_next_agent(
    nb: Any, env: dict[str, str], tmp_path: Path
) -> None:
    tenant, contact, link, address = _agency(nb)
    dev = file_request(nb, tenant=tenant.slug)
    zabbix = clients.zabbix(load_settings(None))
    serve: subprocess.Popen[str] | None = None
    try:
        colocated = run(env, dev.name)
        assert colocated.returncode == 0, colocated.stdout + colocated.stderr
        penv = private_playbooks(REPO_PLAYBOOKS / "maintenance.yaml", tmp_path / "playbooks", "maintenance-lab",
                                 MAINT_TAG, env)  # fmt: skip
        book_file = tmp_path / "playbooks" / "maintenance-lab.yaml"
        book = yaml.safe_load(book_file.read_text(encoding="utf-8"))
        next(s for s in book["steps"] if s["step"] == "verify_server")["params"]["on_mismatch"] = "report"
        book_file.write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")
        # Someone re-described the switch port by hand: NetBox and the switch now disagree.
        iface = nb.dcim.interfaces.get(device_id=dev.id, name="eno1")
        peer = iface.link_peers[0]
        switch, port = (peer["device"]["name"], peer["name"]) if isinstance(peer, dict) else (peer.device.name,
                                                                                              peer.name)  # fmt: skip
        subprocess.run(["ovs-vsctl", f"--db=unix:{os.environ['LAB_DIR']}/switches/{switch}/db.sock", "set", "port",
                        port, "external_ids:description=diubah-manual"], check=True, timeout=30)  # fmt: skip
        # Zabbix's shortest period (5 min), mostly past: its timer (each whole minute) has two ticks to confirm
        # even when the run reaches the window slowly, and the test waits ~3 min for the end.
        # Whole seconds, as the custom fields keep them: a window ending at hh:mm:00.564 is stored as hh:mm:00.
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
        end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=3)
        fresh = nb.dcim.devices.get(dev.id)
        fresh.custom_fields.update({"dcagent_maintenance_start": start.isoformat(timespec="seconds"),
                                    "dcagent_maintenance_end": end.isoformat(timespec="seconds"),
                                    "dcagent_maintenance_reason": "Penggantian disk oleh vendor",
                                    "dcagent_affected_services": "SIMPEG\nE-Kinerja",
                                    "dcagent_maintenance_collect": False})  # fmt: skip
        fresh.tags = [*fresh.tags, {"slug": MAINT_TAG}]
        assert fresh.save()
        decide(dev, "disposisi", "kadis")
        decide(dev, "approved", "kabid")
        first = subprocess.run([*DCAGENT, "run", "maintenance-lab", f"device:{dev.name}"], env=penv,
                               capture_output=True, text=True, timeout=400, check=False)  # fmt: skip
        assert first.returncode == 5 and "waiting" in first.stdout, first.stdout + first.stderr
        host_id = zabbix.host_id(dev.name)
        assert host_id is not None and zabbix.in_maintenance(host_id)  # the on-call staff are not paged
        [period] = [m for m in zabbix.maintenances_of(host_id) if m.name.startswith(f"dcagent {dev.name} ")]
        assert not period.collect_data and end <= period.till < end + timedelta(minutes=1)  # its last seconds too
        assert str(nb.dcim.devices.get(dev.id).status.value) == "maintenance"
        [notice] = wait_for("the notice in the contact's mailbox", lambda: _mail_to(address), timeout=30)
        assert f"maintenance notice {dev.name}" in str(notice["Subject"])  # the tests run dcagent in English
        body = str(notice.get_payload(decode=True), "utf-8")
        assert "SIMPEG" in body and "Penggantian disk oleh vendor" in body
        # During the window the team finds the server must leave (SOP 002.8): they tag it so.
        during = nb.dcim.devices.get(dev.id)
        during.tags = [*during.tags, {"slug": "perlu-penarikan"}]
        assert during.save()
        # An agent serving the waiting run is killed (-9) during the window; the next one started ends it on time.
        serve_env = {**penv, "DCAGENT_LISTEN_PORT": str(SERVE_PORT), "DCAGENT_RECONCILE_INTERVAL": "0"}
        killed = subprocess.Popen([*DCAGENT, "serve"], env=serve_env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        wait_for("dcagent serve", lambda: healthy(SERVE_PORT), timeout=60)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert end > datetime.now(UTC), "the window ended before the agent was killed: lengthen it"
        serve = subprocess.Popen([*DCAGENT, "serve"], env=serve_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)  # fmt: skip
        wait_for("dcagent serve", lambda: healthy(SERVE_PORT), timeout=60)
        store = Store(penv["DCAGENT_STORE_URL"])
        [maint] = store.list_runs(playbook="maintenance-lab", ref=ObjectRef("dcim.device", dev.id))

        def finished() -> Any:
            view = store.get_run(maint.id)
            return view if view is not None and view.finished else None

        done = wait_for("the window's end", finished, timeout=(end - datetime.now(UTC)).total_seconds() + 60)
        assert done.status == "done", done.reason
        ended = done.step("main", "end_maintenance")
        assert ended is not None and ended.finished_at is not None
        assert end <= ended.finished_at <= end + timedelta(seconds=40)  # on time: the waker checks every 10 s
        after = nb.dcim.devices.get(dev.id)
        assert str(after.status.value) == "active"
        tags = {t.slug for t in after.tags}
        assert "sop-withdrawal" in tags and "perlu-penarikan" not in tags  # the withdrawal request waits, not run
        report = Path(penv["DCAGENT_REPORTS_DIR"]) / maint.id / "berita-acara-pemeliharaan.pdf"
        text = " ".join(subprocess.run(["pdftotext", str(report), "-"], capture_output=True, text=True,
                                       check=True).stdout.split())  # fmt: skip
        for expected in (
            "MAINTENANCE WORK REPORT",
            "diubah-manual",
            address,
            "Penggantian disk",
            period.name,
            "requested, awaiting approval",
        ):
            assert expected in text, expected
    finally:
        if serve is not None:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=60)
        _remove(nb, zabbix, dev, (link, contact, tenant))


def _withdraw(nb: Any, env: dict[str, str], dev: Any) -> subprocess.CompletedProcess[str]:
    fresh = nb.dcim.devices.get(dev.id)
    fresh.tags = [*fresh.tags, {"slug": WITHDRAW_TAG}]
    assert fresh.save()
    decide(dev, "disposisi", "kadis")
    decide(dev, "approved", "kabid")
    return subprocess.run([*DCAGENT, "run", "withdrawal-lab", f"device:{dev.name}"], env=env, capture_output=True,
                          text=True, timeout=400, check=False)  # fmt: skip


def test_a_withdrawal_leaves_nothing_of_the_server_in_any_system_and_a_second_changes_nothing(
    nb: Any, env: dict[str, str], tmp_path: Path
) -> None:
    tenant, contact, link, address = _agency(nb)
    dev = file_request(nb, tenant=tenant.slug)
    settings = load_settings(None)
    zabbix = clients.zabbix(settings)
    try:
        colocated = run(env, dev.name)
        assert colocated.returncode == 0, colocated.stdout + colocated.stderr
        placed = nb.dcim.devices.get(dev.id)
        ip = str(placed.primary_ip4.address).split("/")[0]
        peer = nb.dcim.interfaces.get(device_id=dev.id, name="eno1").link_peers[0]
        switch, port = (peer["device"]["name"], peer["name"]) if isinstance(peer, dict) else (peer.device.name,
                                                                                              peer.name)  # fmt: skip
        penv = private_playbooks(REPO_PLAYBOOKS / "withdrawal.yaml", tmp_path / "playbooks", "withdrawal-lab",
                                 WITHDRAW_TAG, env)  # fmt: skip
        # Half-way, the switch cannot be trusted (its host key is unknown to this agent): the withdrawal stops there,
        # keeps what it did and says so; the next run of the request finishes it.
        (tmp_path / "empty_known_hosts").write_text("")
        broken = _withdraw(nb, {**penv, "DCAGENT_SWITCH_SSH__KNOWN_HOSTS": str(tmp_path / "empty_known_hosts")}, dev)
        assert broken.returncode == 1 and "retire_switch_port" in broken.stdout, broken.stdout + broken.stderr
        journal = [str(j.comments) for j in nb.extras.journal_entries.filter(assigned_object_type="dcim.device",
                                                                             assigned_object_id=dev.id)]  # fmt: skip
        assert any(
            "Done and kept (not undone): validate, stop_backup, retire_zabbix_host. Not done: "
            "retire_switch_port, unpublish_dns" in j
            for j in journal
        ), journal
        assert settings.dns is not None and clients.dns(settings.dns).lookup(f"{dev.name}.dc.lab.", "A") == [ip]
        first = _withdraw(nb, penv, dev)
        assert first.returncode == 0, first.stdout + first.stderr
        # Each system, read directly: nothing of the server is left.
        gone = nb.dcim.devices.get(dev.id)
        assert gone.rack is None and gone.primary_ip4 is None and str(gone.status.value) == "offline"
        assert list(nb.ipam.ip_addresses.filter(device_id=dev.id)) == []
        assert list(nb.dcim.cables.filter(device_id=dev.id)) == []
        assert settings.dns is not None
        dns = clients.dns(settings.dns)
        assert dns.lookup(f"{dev.name}.dc.lab.", "A") == [] and dns.lookup(reverse_name(ip), "PTR") == []
        state = ovs_port(os.environ["LAB_DIR"], switch, port)
        assert state["tag"] == ["set", []] and "description" not in str(state["external_ids"])
        assert settings.switch_ssh is not None
        sw = next(s for s in clients.netbox(settings).switches(settings.switch_roles) if s.name == switch)
        creds = clients.ssh_credentials(settings.switch_ssh)
        driver = open_driver(sw.platform, sw.host or "", sw.ssh_port or 22, creds, sw.name)
        try:
            assert driver.get_port(port).enabled is False  # shut, read on the switch itself
        finally:
            driver.close()
        host_id = zabbix.host_id(dev.name)
        assert host_id is not None and zabbix.call("host.get", {"hostids": [host_id], "output": ["status"]})[0][
            "status"] == "1"  # disabled, its history kept  # fmt: skip
        assert WITHDRAW_TAG not in {t.slug for t in gone.tags} and "dcagent-done" in {t.slug for t in gone.tags}
        [notice] = wait_for("the withdrawal notice", lambda: _mail_to(address), timeout=30)
        assert dev.name in str(notice["Subject"])
        form = (
            Path(penv["DCAGENT_REPORTS_DIR"])
            / Store(penv["DCAGENT_STORE_URL"])
            .list_runs(playbook="withdrawal-lab", ref=ObjectRef("dcim.device", dev.id))[0]
            .id
            / "formulir-penarikan-perangkat.pdf"
        )
        text = " ".join(subprocess.run(["pdftotext", str(form), "-"], capture_output=True, text=True,
                                       check=True).stdout.split())  # fmt: skip
        assert "SERVER WITHDRAWAL FORM" in text and ip in text and f"SN-{dev.name}" in text
        # The same request again: every step finds its part done and changes nothing.
        second = _withdraw(nb, penv, dev)
        assert second.returncode == 0, second.stdout + second.stderr
        again = nb.dcim.devices.get(dev.id)
        assert (again.rack, again.primary_ip4, str(again.status.value)) == (None, None, "offline")
        latest = Store(penv["DCAGENT_STORE_URL"]).list_runs(playbook="withdrawal-lab",
                                                            ref=ObjectRef("dcim.device", dev.id))[0]  # fmt: skip
        view = Store(penv["DCAGENT_STORE_URL"]).get_run(latest.id)
        assert view is not None and view.status == "done"
        outputs = {s.key: s.output for s in view.steps if s.phase == "main"}
        assert (
            outputs["retire_switch_port"]["ports"],
            outputs["release_addresses"]["released"],
            outputs["remove_cables"]["removed"],
            outputs["unpublish_dns"]["removed"],
        ) == ([], [], [], False)
    finally:
        remove_request(nb, dev)
        for obj in (link, contact, tenant):
            obj.delete()


@pytest.mark.long(minutes=1)
@pytest.mark.parametrize("step", draw("maintenance", 1, before="begin_maintenance"))
def test_an_agent_killed_before_a_maintenance_window_schedules_it_once(
    step: str, nb: Any, env: dict[str, str], tmp_path: Path
) -> None:
    """The fault harness's maintenance row (issue 12; tests/integration/faults.py): killed inside a step before the
    window (verification, the Zabbix period, the notice), started again: the run waits for its window with one
    Zabbix maintenance period and one notice entry. The window itself is the test above's."""
    tenant, contact, link, address = _agency(nb)
    dev = file_request(nb, tenant=tenant.slug)
    zabbix = clients.zabbix(load_settings(None))
    try:
        assert run(env, dev.name).returncode == 0
        penv = private_playbooks(REPO_PLAYBOOKS / "maintenance.yaml", tmp_path / "playbooks", "maintenance-kill",
                                 "sop-maintenance-kill", env)  # fmt: skip
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        fresh = nb.dcim.devices.get(dev.id)
        fresh.custom_fields.update({"dcagent_maintenance_start": start.isoformat(timespec="seconds"),
                                    "dcagent_maintenance_end": (start + timedelta(minutes=30)).isoformat(),
                                    "dcagent_maintenance_reason": "Uji harness", "dcagent_affected_services": "SIMPEG",
                                    "dcagent_maintenance_collect": False})  # fmt: skip
        fresh.tags = [*fresh.tags, {"slug": "sop-maintenance-kill"}]
        assert fresh.save()
        decide(dev, "disposisi", "kadis")
        decide(dev, "approved", "kabid")
        run_of = run_reader(env["DCAGENT_STORE_URL"], ObjectRef("dcim.device", dev.id), "maintenance-kill")
        argv = [*DCAGENT, "run", "maintenance-kill", f"device:{dev.name}"]
        where = kill_inside(argv, penv, run_of, step)
        restart(argv, penv, run_of, where, until="waiting")
        host_id = zabbix.host_id(dev.name)
        assert host_id is not None
        periods = [m for m in zabbix.maintenances_of(host_id) if m.name.startswith(f"dcagent {dev.name} ")]
        entries = [str(j.comments) for j in nb.extras.journal_entries.filter(assigned_object_type="dcim.device",
                                                                             assigned_object_id=dev.id)]  # fmt: skip
        found = {"Zabbix maintenance periods": len(periods), "notices": len(_mail_to(address)),
                 "notice entries": sum(address in j and "ship-request" not in j for j in entries)}  # fmt: skip
        tally("maintenance", f"SIGKILL {where}", "waiting for its window after restart", found, dict.fromkeys(found, 1))
    finally:
        _remove(nb, zabbix, dev, (link, contact, tenant))
