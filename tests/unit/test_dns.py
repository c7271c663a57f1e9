from __future__ import annotations

import socket

import pytest

from integrations.dns import DNSClient, reverse_name
from integrations.errors import TransientError


def test_reverse_name() -> None:
    assert reverse_name("127.10.0.5") == "5.0.10.127.in-addr.arpa."


def test_silent_server_is_a_transient_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # bound, never answers
        s.bind(("127.0.0.1", 0))
        client = DNSClient("127.0.0.1", s.getsockname()[1], "k", "c2VjcmV0", timeout=0.2)
        with pytest.raises(TransientError, match="timed out"):
            client.lookup("x.dc.lab.", "A")
