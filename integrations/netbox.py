"""Typed adapter over pynetbox: explicit timeouts, own models out, library errors translated at the seam."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pynetbox
import requests
from packaging.version import Version
from pydantic import BaseModel, ConfigDict

from integrations.errors import AuthError, IntegrationError, PermanentError, TransientError
from integrations.http import TimeoutSession
from integrations.versions import parse_version

SYSTEM = "NetBox"
MIN_VERSION = Version("4.3")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class NetBoxStatus(_Model):
    version: Version
    python_version: str
    rq_workers: int

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


class TokenRights(_Model):
    username: str
    is_superuser: bool
    write_enabled: bool


class SwitchRef(_Model):
    """A switch as NetBox describes it: where and how to reach its CLI."""

    id: int
    name: str
    site: str
    platform: str | None
    host: str | None
    ssh_port: int | None


class Tag(_Model):
    id: int
    slug: str
    name: str


def _translate(e: Exception, what: str) -> IntegrationError:
    if isinstance(e, pynetbox.RequestError):
        status = e.req.status_code
        detail = f"{what}: HTTP {status}: {str(e.error)[:300]}"
        if status in (401, 403):
            return AuthError(SYSTEM, detail)
        if status == 429 or status >= 500:
            return TransientError(SYSTEM, detail)
        return PermanentError(SYSTEM, detail)
    if isinstance(e, requests.Timeout):
        return TransientError(SYSTEM, f"{what}: timed out")
    if isinstance(e, requests.ConnectionError):
        return TransientError(SYSTEM, f"{what}: cannot connect ({_root_cause(e)})")
    if isinstance(e, pynetbox.ContentError):
        return PermanentError(SYSTEM, f"{what}: unexpected response ({e})")
    return PermanentError(SYSTEM, f"{what}: {e}")


def _root_cause(e: BaseException) -> str:
    while e.__cause__ is not None or e.__context__ is not None:
        nxt = e.__cause__ or e.__context__
        assert nxt is not None
        e = nxt
    text = str(e)
    return "connection refused" if "refused" in text.lower() else text[:200]


class NetBoxClient:
    """The only door to NetBox. ``token`` is ``nbt_<key>.<token>`` (v2) or a legacy v1 token."""

    def __init__(self, url: str, token: str, timeout: float = 10.0, verify_tls: bool = True) -> None:
        self.url = url.rstrip("/")
        self._api = pynetbox.api(self.url, token=token)
        self._api.http_session = TimeoutSession(timeout, verify=verify_tls)

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        try:
            yield
        except IntegrationError:
            raise
        except (pynetbox.RequestError, pynetbox.ContentError, requests.RequestException) as e:
            raise _translate(e, what) from e

    def _do[T](self, what: str, fn: Callable[[], T]) -> T:
        with self._call(what):
            return fn()

    # -- status and rights --------------------------------------------------------------------------
    def status(self) -> NetBoxStatus:
        data: dict[str, Any] = self._do("status", self._api.status)
        return NetBoxStatus(
            version=parse_version(SYSTEM, str(data.get("netbox-version", ""))),
            python_version=str(data.get("python-version", "")),
            rq_workers=int(data.get("rq-workers-running", 0) or 0),
        )

    def token_rights(self) -> TokenRights:
        """Who the token belongs to and whether it may write (v2 tokens report it on the token itself)."""
        session = self._api.http_session
        headers = {"Authorization": self._auth_header(), "Accept": "application/json"}

        def check() -> dict[str, Any]:
            resp = session.get(f"{self.url}/api/authentication-check/", headers=headers)
            if resp.status_code in (401, 403):
                raise AuthError(SYSTEM, f"token check: the token was refused (HTTP {resp.status_code})")
            if resp.status_code == 429 or resp.status_code >= 500:
                raise TransientError(SYSTEM, f"token check: HTTP {resp.status_code}")
            if resp.status_code != 200:
                raise PermanentError(SYSTEM, f"token check: HTTP {resp.status_code}")
            result: dict[str, Any] = resp.json()
            return result

        user = self._do("token check", check)
        if user.get("id") is None:
            raise AuthError(SYSTEM, "token check: the token was refused")
        tokens = self._do("token list", lambda: list(self._api.users.tokens.filter(user_id=user["id"])))
        key = self._token_key()
        mine = [t for t in tokens if key is None or getattr(t, "key", None) == key]
        write = any(bool(getattr(t, "write_enabled", False)) for t in mine)
        return TokenRights(
            username=str(user.get("username", "")),
            is_superuser=bool(user.get("is_superuser", False)),
            write_enabled=write,
        )

    def _auth_header(self) -> str:
        token: str = self._api.token
        return f"Bearer {token}" if token.startswith("nbt_") else f"Token {token}"

    def _token_key(self) -> str | None:
        token: str = self._api.token
        if token.startswith("nbt_") and "." in token:
            return token[len("nbt_") :].split(".", 1)[0]
        return None

    # -- tags -----------------------------------------------------------------------------------------
    def ensure_tag(self, slug: str, name: str, color: str = "9e9e9e", description: str = "") -> Tag:
        def run() -> Any:
            tag = self._api.extras.tags.get(slug=slug)
            if tag is None:
                tag = self._api.extras.tags.create(slug=slug, name=name, color=color, description=description)
            return tag

        tag = self._do(f"ensure tag {slug}", run)
        return Tag(id=int(tag.id), slug=str(tag.slug), name=str(tag.name))

    def delete_tag(self, slug: str) -> bool:
        def run() -> bool:
            tag = self._api.extras.tags.get(slug=slug)
            return bool(tag.delete()) if tag is not None else False

        return self._do(f"delete tag {slug}", run)

    # -- switches -------------------------------------------------------------------------------------
    def switches(self, roles: list[str]) -> list[SwitchRef]:
        """Devices with one of ``roles``, with their primary address and SSH service port, if recorded."""

        def run() -> list[SwitchRef]:
            refs = []
            for dev in self._api.dcim.devices.filter(role=roles):
                ip = dev.primary_ip4 or dev.primary_ip6 or dev.primary_ip
                host = str(ip.address).split("/", 1)[0] if ip else None
                ssh = [s for s in self._api.ipam.services.filter(device_id=dev.id) if str(s.name).lower() == "ssh"]
                refs.append(
                    SwitchRef(
                        id=int(dev.id),
                        name=str(dev.name),
                        site=str(dev.site.slug),
                        platform=str(dev.platform.slug) if dev.platform else None,
                        host=host,
                        ssh_port=int(ssh[0].ports[0]) if ssh and ssh[0].ports else None,
                    )
                )
            return refs

        return self._do("list switches", run)
