"""Authoritative DNS over RFC 2136 (TSIG-signed dynamic updates) and plain queries, with dnspython."""

from __future__ import annotations

import ipaddress

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
from pydantic import BaseModel, ConfigDict

from integrations.errors import AuthError, IntegrationError, PermanentError, TransientError

SYSTEM = "DNS"


class ZoneStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    zone: str
    serial: int
    primary_ns: str


# What a host's name may already hold in a zone, asked one type at a time (see DNSClient.records).
RECORD_TYPES = ("A", "AAAA", "MX", "TXT", "SRV", "NS", "PTR", "CAA", "DNAME")


class DNSClient:
    """One authoritative server. Every update is TSIG-signed; answers are read straight from that server."""

    def __init__(
        self,
        server: str,
        port: int,
        tsig_key_name: str,
        tsig_secret: str,
        tsig_algorithm: str = "hmac-sha256",
        timeout: float = 5.0,
    ) -> None:
        self.server = server
        self.port = port
        self.timeout = timeout
        self._keyring = dns.tsigkeyring.from_text({tsig_key_name: (tsig_algorithm, tsig_secret)})
        self._key_name = dns.name.from_text(tsig_key_name)

    def _query(self, name: str, rdtype: str) -> dns.message.Message:
        msg = dns.message.make_query(name, rdtype)
        try:
            # Over TCP when the answer does not fit a datagram (every record of a name, asked with ANY).
            resp, _ = dns.query.udp_with_fallback(msg, self.server, port=self.port, timeout=self.timeout)
            return resp
        except dns.exception.Timeout as e:
            raise TransientError(SYSTEM, f"query {name} {rdtype} at {self.server}:{self.port}: timed out") from e
        except OSError as e:
            raise TransientError(SYSTEM, f"query {name} {rdtype}: {e}") from e

    def zone_status(self, zone: str) -> ZoneStatus:
        """The zone's SOA, asked of the server itself: proves it is authoritative for the zone."""
        resp = self._query(zone, "SOA")
        if resp.rcode() != dns.rcode.NOERROR or not resp.answer:
            raise PermanentError(
                SYSTEM, f"{self.server}:{self.port} does not serve zone {zone} ({dns.rcode.to_text(resp.rcode())})"
            )
        soa = resp.answer[0][0]
        return ZoneStatus(zone=zone, serial=int(soa.serial), primary_ns=str(soa.mname))

    def lookup(self, name: str, rdtype: str) -> list[str]:
        """Record values for ``name`` (empty when it does not exist)."""
        resp = self._query(name, rdtype)
        if resp.rcode() == dns.rcode.NXDOMAIN:
            return []
        if resp.rcode() != dns.rcode.NOERROR:
            raise TransientError(SYSTEM, f"query {name} {rdtype}: {dns.rcode.to_text(resp.rcode())}")
        wanted, owner = dns.rdatatype.from_text(rdtype), dns.name.from_text(name)
        # The name's own records only: asked for A at an alias, a server also answers the CNAME's target's A.
        return sorted(rd.to_text() for rrset in resp.answer if rrset.rdtype == wanted and rrset.name == owner
                      for rd in rrset)  # fmt: skip

    def records(self, name: str) -> dict[str, list[str]]:
        """Every record at ``name``, by type (``{"CNAME": ["web.example.org."]}``; empty: the name is free). Whatever
        the type, a name holding one is not free for a host: BIND silently ignores an A added beside a CNAME, and the
        update reads as done.

        Asked type by type, never with ANY: servers following RFC 8482 answer ANY with a made-up HINFO, and BIND
        with ``minimal-any`` with one set only. The first question (A) settles the usual case: NXDOMAIN means no
        record of any type; an alias answers it with its CNAME."""
        found: dict[str, list[str]] = {}
        owner = dns.name.from_text(name)
        for kind in RECORD_TYPES:
            resp = self._query(name, kind)
            if resp.rcode() == dns.rcode.NXDOMAIN:
                return {}
            if resp.rcode() != dns.rcode.NOERROR:
                raise TransientError(SYSTEM, f"query {name} {kind}: {dns.rcode.to_text(resp.rcode())}")
            for rrset in resp.answer:
                if rrset.name == owner and rrset.rdtype not in (dns.rdatatype.RRSIG, dns.rdatatype.NSEC):
                    values = found.setdefault(dns.rdatatype.to_text(rrset.rdtype), [])
                    values.extend(rd.to_text() for rd in rrset if rd.to_text() not in values)
            if "CNAME" in found:  # an alias holds nothing else
                break
        return {kind: sorted(values) for kind, values in sorted(found.items())}

    def _send(self, update: dns.update.UpdateMessage, what: str) -> None:
        try:
            resp = dns.query.tcp(update, self.server, port=self.port, timeout=self.timeout)
        except dns.exception.Timeout as e:
            raise TransientError(SYSTEM, f"{what}: timed out") from e
        except (OSError, dns.exception.DNSException) as e:
            raise _translate_update_error(what, e) from e
        rcode = resp.rcode()
        if rcode in (dns.rcode.NOTAUTH, dns.rcode.REFUSED):
            raise AuthError(SYSTEM, f"{what}: {dns.rcode.to_text(rcode)} (TSIG key or allow-update)")
        if rcode == dns.rcode.SERVFAIL:
            raise TransientError(SYSTEM, f"{what}: SERVFAIL")
        if rcode != dns.rcode.NOERROR:
            raise PermanentError(SYSTEM, f"{what}: {dns.rcode.to_text(rcode)}")

    def replace_record(self, zone: str, name: str, rdtype: str, value: str, ttl: int = 300) -> None:
        """Make ``name`` hold exactly ``value`` (idempotent: re-running changes nothing)."""
        update = dns.update.UpdateMessage(zone, keyring=self._keyring, keyname=self._key_name)
        update.replace(_relative(name, zone), ttl, rdtype, value)
        self._send(update, f"update {name} {rdtype} {value}")

    def delete_record(self, zone: str, name: str, rdtype: str) -> None:
        update = dns.update.UpdateMessage(zone, keyring=self._keyring, keyname=self._key_name)
        update.delete(_relative(name, zone), rdtype)
        self._send(update, f"delete {name} {rdtype}")


def _relative(name: str, zone: str) -> dns.name.Name:
    return dns.name.from_text(name).relativize(dns.name.from_text(zone))


def _translate_update_error(what: str, e: BaseException) -> IntegrationError:
    if isinstance(e, dns.tsig.PeerError):
        return AuthError(SYSTEM, f"{what}: TSIG refused ({e})")
    return TransientError(SYSTEM, f"{what}: {e}")


def canonical_name(name: str) -> str:
    """A DNS name as DNS compares names (RFC 4343: letters case-insensitive), absolute: ``Srv-A.dc.lab`` →
    ``srv-a.dc.lab.``. Every comparison of names, FQDNs and PTR targets goes through it (or ``same_name``)."""
    return name.strip().rstrip(".").lower() + "."


def same_name(a: str, b: str) -> bool:
    """Whether two DNS names are the same name, whatever their case and trailing dot."""
    return canonical_name(a) == canonical_name(b)


def only_name(values: list[str], name: str) -> bool:
    """Whether a lookup's answer (PTR or CNAME targets) is exactly ``name``, once."""
    return len(values) == 1 and same_name(values[0], name)


def in_zone(name: str, zone: str) -> bool:
    """Whether ``name`` is ``zone`` or below it (case- and trailing-dot-insensitive)."""
    name, zone = canonical_name(name), canonical_name(zone)
    return name == zone or name.endswith("." + zone)


def reverse_name(address: str) -> str:
    """``127.10.0.5`` → ``5.0.10.127.in-addr.arpa.``"""
    return ipaddress.ip_address(address).reverse_pointer + "."
