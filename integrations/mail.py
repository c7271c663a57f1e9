"""Notices by e-mail through the office's SMTP relay (smtplib): STARTTLS and login when configured, a deadline on
every exchange, and a Message-ID fixed by the caller, so a notice re-sent after a crash is one message to mail
clients that de-duplicate, and the run store records it as sent once."""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate

from pydantic import BaseModel, ConfigDict

from integrations.cancel import check
from integrations.errors import AuthError, IntegrationError, PermanentError, TransientError
from integrations.metrics import count_call

SYSTEM = "mail"


class Notice(BaseModel):
    """One message to people. ``key`` makes the Message-ID: the same notice always has the same one."""

    model_config = ConfigDict(frozen=True)

    to: tuple[str, ...]
    subject: str
    body: str
    key: str


def connect(host: str, port: int, timeout: float) -> smtplib.SMTP:
    """A connection to the relay at ``host:port``, every exchange bounded by ``timeout`` seconds."""
    return smtplib.SMTP(host, port, timeout=timeout)


class Mailer:
    """``smtp`` opens the connection to the relay (:func:`connect`: smtplib's)."""

    def __init__(self, host: str, port: int, sender: str, timeout: float = 15.0, starttls: bool = False,
                 username: str | None = None, password: str | None = None,
                 smtp: Callable[[str, int, float], smtplib.SMTP] = connect) -> None:  # fmt: skip
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self._starttls, self._username, self._password = starttls, username, password
        self._smtp = smtp

    def message_id(self, key: str) -> str:
        """The same key gives the same Message-ID (run id and notice name: unique per notice)."""
        domain = re.sub(r"[^A-Za-z0-9.-]", "", self.sender.rsplit("@", 1)[-1]) or "dcagent"
        return f"<{re.sub(r'[^A-Za-z0-9.-]', '.', key)}@{domain}>"

    @contextmanager
    def _session(self) -> Iterator[smtplib.SMTP]:
        """A connection to the relay, upgraded to TLS and logged in as configured; SMTP errors translated."""
        check(SYSTEM)
        try:
            with self._smtp(self.host, self.port, self.timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password or "")
                yield smtp
        except IntegrationError:
            raise
        except (smtplib.SMTPException, OSError) as e:
            raise _translate(e, self.host, self.port) from e

    def probe(self) -> str:
        """Connect (STARTTLS and login when configured) and send nothing: the relay's answer to NOOP."""
        with self._session() as smtp:
            code, text = smtp.noop()
        return f"SMTP {code} {text.decode(errors='replace')}"[:200]

    def send(self, notice: Notice) -> str:
        """Deliver ``notice`` to the relay; returns its Message-ID. Refused recipients or sender: PermanentError;
        a relay that is down, slow or answers 4xx: TransientError (a retry can help)."""
        if not notice.to:
            raise PermanentError(SYSTEM, "a notice needs at least one recipient")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, ", ".join(notice.to), notice.subject
        msg["Date"], msg["Message-ID"] = formatdate(localtime=False), self.message_id(notice.key)
        msg.set_content(notice.body)
        count_call(SYSTEM)
        with self._session() as smtp:
            refused = smtp.send_message(msg)
        if refused:
            raise PermanentError(SYSTEM, "recipients refused: " + ", ".join(sorted(refused)))
        return str(msg["Message-ID"])


def _translate(e: BaseException, host: str, port: int) -> IntegrationError:
    where = f"{host}:{port}"
    if isinstance(e, smtplib.SMTPAuthenticationError):
        return AuthError(SYSTEM, f"{where}: login refused ({e.smtp_code})")
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        codes = {code for code, _msg in e.recipients.values()}
        cls = TransientError if all(400 <= c < 500 for c in codes) else PermanentError
        return cls(SYSTEM, f"{where}: recipients refused: {', '.join(sorted(e.recipients))}")
    if isinstance(e, smtplib.SMTPResponseException):
        cls = TransientError if 400 <= e.smtp_code < 500 else PermanentError
        text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        return cls(SYSTEM, f"{where}: {e.smtp_code} {text[:200]}")
    if isinstance(e, TimeoutError):
        return TransientError(SYSTEM, f"{where}: timed out")
    if isinstance(e, ssl.SSLError):
        return PermanentError(SYSTEM, f"{where}: TLS failed ({e.reason})")
    if isinstance(e, smtplib.SMTPNotSupportedError):
        return PermanentError(SYSTEM, f"{where}: {e}")
    return TransientError(SYSTEM, f"{where}: cannot deliver ({e.__class__.__name__}: {str(e)[:120]})")
