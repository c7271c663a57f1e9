"""Server maintenance (SOP 002) without the lab: the window as the form gives it, the Zabbix maintenance period
(recorded JSON-RPC answers of the lab's Zabbix 6.0) and the notice through SMTP (the Mailer's ``smtp`` seam)."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, ClassVar

import pytest

from agent.engine.calendar import OfficeCalendar
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext, StepResult
from agent.engine.run_meta import RunMeta
from agent.steps import maintenance  # noqa: F401  (registers validate_window)
from integrations.errors import PermanentError, TransientError
from integrations.mail import Mailer, Notice
from integrations.zabbix import ZabbixClient
from integrations.zabbix.maintenance import zabbix_span
from tests.unit.engine.world import FakeClock
from tests.unit.jsonrpc_replay import recorded, replay

NOW = FakeClock().t  # 2026-11-23 09:00 UTC


def _ctx(fields: dict[str, Any], max_hours: float = 72) -> StepContext:
    device = {"id": 7, "name": "srv-1", "site_id": 1, "site": "dc-batam", "rack_id": 1, "position": 10, "face": "front",
              "status": "active", "u_height": 1, "full_depth": True, "psu_draw_w": [300], "data_interfaces": ["eno1"],
              "tenant_id": 3, "tenant": "dinkes", "role": "server", "platform": "linux", "serial": "SN1",
              "asset_tag": None, "device_type": "r650", "manufacturer": "Dell", "primary_ip": "127.10.0.5/24",
              "custom_fields": fields}  # fmt: skip
    return StepContext(run_id="run-1", playbook="maintenance", step="validate_window",
                       request=ObjectRef("dcim.device", 7), outputs={}, services=None, locks=InProcessLocks(),
                       clock=FakeClock(), params={"max_hours": max_hours},
                       meta=RunMeta(calendar=OfficeCalendar(timezone="Asia/Makassar")),
                       approved={"device": device})  # type: ignore[arg-type]  # fmt: skip


def validate_window(ctx: StepContext) -> StepResult:
    return REGISTRY.get("validate_window").run(ctx)  # its params (max_hours) validated as a run's are


def _window(start: str | None, end: str | None, reason: str | None = "ganti disk") -> dict[str, Any]:
    return {"dcagent_maintenance_start": start, "dcagent_maintenance_end": end, "dcagent_maintenance_reason": reason,
            "dcagent_affected_services": "SIMPEG\n\n E-Kinerja ", "dcagent_maintenance_collect": True}  # fmt: skip


def test_a_window_without_a_zone_is_the_offices_time_and_is_kept_as_approved() -> None:
    result = validate_window(_ctx(_window("2026-11-24 08:00", "2026-11-24T10:30:00")))
    assert result.outcome == "ok"
    assert result.output["start"] == "2026-11-24T08:00:00+08:00"  # WITA, the office's zone
    assert datetime.fromisoformat(result.output["end"]) == datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
    assert result.output["services"] == ["SIMPEG", "E-Kinerja"] and result.output["collect_data"] is True


@pytest.mark.parametrize(("start", "end", "reason", "why"), [
    ("2026-11-24T10:00+00:00", "2026-11-24T09:00+00:00", "x", "sebelum dimulai"),
    ("2026-11-24T10:00+00:00", "2026-11-28T10:00+00:00", "x", "96 jam, lebih lama dari 72 jam"),
    ("2026-11-22T10:00+00:00", "2026-11-22T12:00+00:00", "x", "sudah berakhir"),
    ("2026-11-24T10:00+00:00", "2026-11-24T10:04:59+00:00", "x",
     "hanya 4 menit 59 detik; Zabbix tidak menyimpan periode pemeliharaan yang lebih pendek dari 5 menit"),
    (None, "2026-11-24T09:00+00:00", "x", "dcagent_maintenance_start kosong"),
    ("besok pagi", "2026-11-24T09:00+00:00", "x", "bukan tanggal dan waktu"),
    ("2026-11-24T08:00+00:00", "2026-11-24T09:00+00:00", " ", "dcagent_maintenance_reason kosong"),
])  # fmt: skip
def test_a_bad_window_is_rejected_with_the_reason(start: str | None, end: str, reason: str, why: str) -> None:
    result = validate_window(_ctx(_window(start, end, reason)))
    assert result.outcome == "rejected" and any(why in r for r in result.reasons), result.reasons


def _zabbix_answers(**more: Any) -> dict[str, Any]:
    return {"apiinfo.version": recorded("apiinfo.version"), **more}


def test_a_maintenance_period_is_created_for_the_host_without_data_collection_over_the_window() -> None:
    start, end = NOW, NOW + timedelta(hours=2)
    with replay(_zabbix_answers(**{"maintenance.create": recorded("maintenance.create")})) as (url, seen):
        mid = ZabbixClient(url, token="t").create_maintenance("dcagent srv-1 run-1", "10084", start, end, False)
    params = next(r["body"]["params"] for r in seen if r["body"]["method"] == "maintenance.create")
    assert mid == "2" and params["hosts"] == [{"hostid": "10084"}] and params["maintenance_type"] == 1
    assert params["active_till"] - params["active_since"] == 7200
    assert params["timeperiods"] == [{"timeperiod_type": 0, "start_date": int(start.timestamp()), "period": 7200}]


def test_the_period_covers_the_windows_last_seconds_though_zabbix_rounds_down_to_the_minute() -> None:
    since, till = NOW + timedelta(seconds=20), NOW + timedelta(minutes=10, seconds=1)
    assert zabbix_span(since, till) == (int(NOW.timestamp()), int((NOW + timedelta(minutes=11)).timestamp()))
    assert zabbix_span(NOW, NOW + timedelta(minutes=5)) == (int(NOW.timestamp()), int(NOW.timestamp()) + 300)


def test_the_hosts_periods_are_read_as_windows_that_know_when_they_overlap() -> None:
    with replay(_zabbix_answers(**{"maintenance.get": recorded("maintenance.get"),
                                   "host.get": recorded("host.get.in_maintenance")})) as (url, _seen):  # fmt: skip
        client = ZabbixClient(url, token="t")
        [window] = client.maintenances_of("10084")
        assert client.in_maintenance("10084")
    assert (window.name, window.collect_data, window.till - window.since) == ("rec maintenance A", False,
                                                                              timedelta(hours=1))  # fmt: skip
    assert window.overlaps(window.till - timedelta(minutes=1), window.till + timedelta(hours=1))
    assert not window.overlaps(window.till, window.till + timedelta(hours=1))  # back to back is no overlap


class FakeSMTP:
    """smtplib.SMTP at its seam: records what is sent; ``refuse`` answers like a relay that says no."""

    sent: ClassVar[list[EmailMessage]] = []
    calls: ClassVar[list[str]] = []
    refuse: ClassVar[Exception | None] = None

    def __init__(self, host: str, port: int, timeout: float) -> None:
        FakeSMTP.calls.append(f"connect {host}:{port} timeout={timeout}")

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        FakeSMTP.calls.append("quit")

    def starttls(self, context: object) -> None:
        FakeSMTP.calls.append("starttls")

    def login(self, user: str, password: str) -> None:
        FakeSMTP.calls.append(f"login {user}")

    def send_message(self, msg: EmailMessage) -> dict[str, Any]:
        if FakeSMTP.refuse is not None:
            raise FakeSMTP.refuse
        FakeSMTP.sent.append(msg)
        return {}


@pytest.fixture
def smtp() -> type[FakeSMTP]:
    """FakeSMTP, emptied: a Mailer given it as its ``smtp`` connects to it instead of a relay."""
    FakeSMTP.sent, FakeSMTP.calls, FakeSMTP.refuse = [], [], None
    return FakeSMTP


NOTICE = Notice(to=("pic@opd.lab",), subject="Pemberitahuan pemeliharaan – srv-1", body="Isi", key="run-1.notice")


def test_a_notice_goes_through_starttls_and_login_with_a_message_id_fixed_by_its_key(smtp: type[FakeSMTP]) -> None:
    mailer = Mailer("relay.example", 587, "noc@diskominfo.example", timeout=7, starttls=True, username="noc",
                    password="s3cret", smtp=smtp)  # type: ignore[arg-type]  # fmt: skip
    first, again = mailer.send(NOTICE), mailer.send(NOTICE)
    assert first == again == "<run-1.notice@diskominfo.example>"
    assert smtp.calls[:3] == ["connect relay.example:587 timeout=7", "starttls", "login noc"]
    assert smtp.sent[0]["To"] == "pic@opd.lab" and "s3cret" not in str(smtp.sent[0])


@pytest.mark.parametrize(("refusal", "kind"), [
    (ConnectionRefusedError(111, "Connection refused"), TransientError),
    (TimeoutError("timed out"), TransientError),
    (smtplib.SMTPRecipientsRefused({"pic@opd.lab": (550, b"no such user")}), PermanentError),
    (smtplib.SMTPRecipientsRefused({"pic@opd.lab": (450, b"mailbox busy")}), TransientError),
    (smtplib.SMTPDataError(421, b"try later"), TransientError),
    (smtplib.SMTPSenderRefused(553, b"not allowed", "noc@x"), PermanentError),
])  # fmt: skip
def test_a_relay_that_says_no_is_an_error_split_by_whether_a_retry_can_help(
    smtp: type[FakeSMTP], refusal: Exception, kind: type[Exception]
) -> None:
    smtp.refuse = refusal
    with pytest.raises(kind) as e:
        Mailer("127.0.0.1", 25, "noc@dc.lab", smtp=smtp).send(NOTICE)  # type: ignore[arg-type]
    assert type(e.value) is kind


@pytest.mark.parametrize("language", ["id", "en"])
def test_every_notice_template_renders_a_subject_and_a_body_in_both_languages(language: str) -> None:
    from agent.reports.mail import render_mail

    values = {"device": "srv-1", "agency": "Dinas Kesehatan", "since": "1 Desember 2026, 08.00 WIB",
              "till": "1 Desember 2026, 10.00 WIB", "services": ["SIMPEG", "E-Kinerja"], "reason": "ganti disk",
              "office": "Diskominfo Kota Batam", "run_id": "run-1", "serial": "SN1", "end": "2027-01-31",
              "days": 7}  # fmt: skip
    for name in ("maintenance-notice", "withdrawal-notice", "expiry-reminder"):
        subject, body = render_mail(name, language, **values)
        assert "srv-1" in subject and "\n" not in subject and body.endswith("\n") and "{{" not in body
    subject, body = render_mail("maintenance-notice", language, **values)
    assert "- SIMPEG\n- E-Kinerja\n" in body and "ganti disk" in body
