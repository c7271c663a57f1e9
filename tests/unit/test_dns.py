from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from integrations.dns import DNSClient, canonical_name, in_zone, only_name, reverse_name, same_name
from integrations.errors import TransientError


def test_reverse_name() -> None:
    assert reverse_name("127.10.0.5") == "5.0.10.127.in-addr.arpa."


def test_silent_server_is_a_transient_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # bound, never answers
        s.bind(("127.0.0.1", 0))
        client = DNSClient("127.0.0.1", s.getsockname()[1], "k", "c2VjcmV0", timeout=0.2)
        with pytest.raises(TransientError, match="timed out"):
            client.lookup("x.dc.lab.", "A")


# -- names compared as DNS compares them, records of every type (issue 30 #7, #14) -----------------------------------
class FakeServer:
    """An authoritative server on a UDP socket answering from ``zone`` ({(owner, type): [values]}) as BIND does:
    an A asked at an alias gets the CNAME and its target's A; ANY gets RFC 8482's made-up HINFO."""

    def __init__(self, zone: dict[tuple[str, str], list[str]]) -> None:
        self.zone = {(dns.name.from_text(n), t): v for (n, t), v in zone.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _rrsets(self, name: dns.name.Name, kind: str) -> list[dns.rrset.RRset]:
        if kind == "ANY":  # RFC 8482, as some servers answer it: a made-up record, whatever the name holds
            return [dns.rrset.from_text_list(name, 300, "IN", "HINFO", ['"RFC8482" ""'])]
        found = [(t, v) for (n, t), v in self.zone.items() if n == name and kind == t]
        out = [dns.rrset.from_text_list(name, 300, "IN", t, v) for t, v in found]
        if kind == "A" and not found and (name, "CNAME") in self.zone:
            target = dns.name.from_text(self.zone[(name, "CNAME")][0])
            out = [dns.rrset.from_text_list(name, 300, "IN", "CNAME", self.zone[(name, "CNAME")]),
                   *self._rrsets(target, "A")]  # fmt: skip
        return out

    def _serve(self) -> None:
        while True:
            data, peer = self.sock.recvfrom(4096)
            if not data:  # close(): an empty datagram wakes the loop to end it
                return
            query = dns.message.from_wire(data)
            question = query.question[0]
            resp = dns.message.make_response(query)
            resp.answer = self._rrsets(question.name, dns.rdatatype.to_text(question.rdtype))
            if not any(n == question.name for n, _ in self.zone):
                resp.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(resp.to_wire(), peer)

    def client(self) -> DNSClient:
        return DNSClient("127.0.0.1", self.sock.getsockname()[1], "k", "c2VjcmV0", timeout=2)

    def close(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as wake:
            wake.sendto(b"", self.sock.getsockname())
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    zone = {("www.dc.lab.", "CNAME"): ["web.example.org."], ("alias.dc.lab.", "CNAME"): ["srv.dc.lab."],
            ("srv.dc.lab.", "A"): ["127.10.0.5"], ("srv.dc.lab.", "TXT"): ['"owner disdik"']}  # fmt: skip
    fake = FakeServer(zone)
    yield fake
    fake.close()


def test_every_record_type_on_a_name_is_read(server: FakeServer) -> None:
    client = server.client()
    assert client.records("www.dc.lab.") == {"CNAME": ["web.example.org."]}
    assert client.records("SRV.dc.lab") == {"A": ["127.10.0.5"], "TXT": ['"owner disdik"']}
    assert client.records("free.dc.lab.") == {}


def test_an_address_asked_at_an_alias_is_not_the_aliass_own(server: FakeServer) -> None:
    client = server.client()
    assert client.lookup("alias.dc.lab.", "A") == []  # the server answered srv's A beside the CNAME
    assert client.lookup("Srv.DC.lab.", "A") == ["127.10.0.5"]


@pytest.mark.parametrize(("a", "b", "same"), [
    ("Srv-A.dc.lab.", "srv-a.dc.lab", True), ("srv-a.dc.lab", "SRV-A.DC.LAB.", True),
    ("srv-a.dc.lab.", "srv-b.dc.lab.", False),
])  # fmt: skip
def test_names_compare_whatever_their_case_and_trailing_dot(a: str, b: str, same: bool) -> None:
    assert same_name(a, b) is same and only_name([a], b) is same
    assert canonical_name(a) == a.rstrip(".").lower() + "."
    assert not only_name([a, a], b) and not only_name([], b)
    assert in_zone("5.0.10.127.IN-ADDR.ARPA.", "10.127.in-addr.arpa") and not in_zone("x.dc.lab", "c.lab")
