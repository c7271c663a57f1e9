"""Bulk writes to a slow NetBox (issue 35): chunks sized by the latency measured, a timed-out chunk read back before
anything is sent again (it may have landed), and `dcagent sync zabbix --json` printing an object whatever happens.

The NetBox here is a ``responses`` callback that keeps the written state, charges a fake clock per row, and times
out (having committed, or not) when a chunk would take longer than the client's timeout, as the lab's NetBox did
right after the suite."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from typer.testing import CliRunner

from integrations.bulk import Pace, write_in_chunks
from integrations.errors import TransientError
from integrations.netbox import NetBoxClient

URL = "http://netbox.test"
DEVICES = f"{URL}/api/dcim/devices/"
JOURNAL = f"{URL}/api/extras/journal-entries/"


@dataclass
class SlowNetBox:
    """Charges ``per_row`` seconds a row; a chunk of more than ``fits`` rows times out after the client's timeout and
    is committed as ``on_timeout`` says: before the client gave up, 5 s after it (the server finishing a request
    nobody waits for any more), or never."""

    per_row: float
    fits: int
    on_timeout: str  # "before", "after" or "never"
    now: float = 0.0
    deferred: list[tuple[float, list[dict[str, Any]]]] = field(default_factory=list)
    hostids: dict[int, str | None] = field(default_factory=dict)
    journal: list[dict[str, Any]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # rows per write call, in order
    reads: int = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for at, rows in [d for d in self.deferred if d[0] <= self.now]:
            self.deferred.remove((at, rows))
            self.commit(rows)

    def commit(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            if "custom_fields" in r:
                self.hostids[r["id"]] = r["custom_fields"]["dcagent_zabbix_hostid"]
            else:
                self.journal.append(dict(r, id=len(self.journal) + 1))

    def write(self, request: Any) -> tuple[int, dict[str, str], str]:
        rows = json.loads(request.body)
        self.sizes.append(len(rows))
        late = len(rows) > self.fits
        if not late or self.on_timeout == "before":
            self.commit(rows)
        if late:
            self.now += 60.5
            if self.on_timeout == "after":
                self.deferred.append((self.now + 5, rows))
            raise requests.ReadTimeout("read timed out")
        self.now += self.per_row * len(rows)
        return 200, {}, "[]"

    def read_devices(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.reads += 1
        ids = [int(i) for i in parse_qs(urlsplit(request.url).query)["id"]]
        rows = [
            {"id": i, "custom_fields": {"dcagent_zabbix_hostid": self.hostids[i]}} for i in ids if i in self.hostids
        ]
        return 200, {}, json.dumps({"count": len(rows), "next": None, "results": rows})

    def read_journal(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.reads += 1
        query = parse_qs(urlsplit(request.url).query)
        assert "created_after" in query and query["assigned_object_type"] == ["dcim.device"]
        ids = {int(i) for i in query["assigned_object_id"]}
        rows = [e for e in self.journal if e["assigned_object_id"] in ids]
        return 200, {}, json.dumps({"count": len(rows), "next": None, "results": rows})

    def serve(self) -> None:
        responses.add_callback(responses.PATCH, DEVICES, callback=self.write)
        responses.add_callback(responses.GET, DEVICES, callback=self.read_devices)
        responses.add_callback(responses.POST, JOURNAL, callback=self.write)
        responses.add_callback(responses.GET, JOURNAL, callback=self.read_journal)


def test_the_pace_fits_the_target_never_more_than_doubles_and_falls_to_a_quarter_after_a_timeout() -> None:
    pace = Pace(target=10.0, largest=200)
    assert pace.size == 200
    pace.took(200, 100.0)  # 0.5 s a row: 20 rows fit in 10 s
    assert pace.size == 20
    pace.took(20, 0.2)  # suddenly fast: at most twice the last size
    assert pace.size == 40
    pace.timed_out(40, 60.5)  # a timeout after 60.5 s: at least 1.5 s a row, so 6 rows fit in 10 s
    assert pace.size == 6
    pace.took(6, 3.0)
    pace.timed_out(12, 1.0)  # fast, yet it failed: a quarter of the chunk at most
    assert pace.size == 3
    for _ in range(3):
        pace.timed_out(pace.size, 60.5)
    assert pace.size == 1


@responses.activate
@pytest.mark.parametrize("commits", ["before", "after", "never"])
def test_a_timed_out_chunk_is_read_back_and_only_what_did_not_land_is_sent_again(commits: str) -> None:
    netbox = SlowNetBox(per_row=0.5, fits=40, on_timeout=commits)
    netbox.serve()
    nb = NetBoxClient(URL, "nbt_k.t", timeout=60, clock=netbox.clock, sleep=netbox.sleep)
    wanted = {i: str(10000 + i) for i in range(1, 451)}
    calls = nb.write_zabbix_hostids("device", wanted)
    assert netbox.hostids == wanted
    # The first chunk timed out; it is read back once all of it is there, else until two reads agree.
    assert netbox.sizes[0] == 200 and netbox.reads == (1 if commits != "never" else 2)
    resent = 0 if commits != "never" else 200
    assert sum(netbox.sizes) == 450 + resent  # a landed row is never written twice; a lost one is, once
    assert netbox.sizes[1] == 33  # 60.5 s for 200 rows: at least 0.3 s a row, so 33 fit in the 10 s target
    assert max(netbox.sizes[2:]) == 20  # then what 10 s of measured latency (0.5 s a row) fits
    assert calls == len(netbox.sizes) + netbox.reads


@responses.activate
@pytest.mark.parametrize("commits", ["before", "after"])
def test_a_journal_post_that_timed_out_then_landed_is_not_posted_twice(commits: str) -> None:
    netbox = SlowNetBox(per_row=0.5, fits=40, on_timeout=commits)
    netbox.serve()
    nb = NetBoxClient(URL, "nbt_k.t", timeout=60, clock=netbox.clock, sleep=netbox.sleep)
    entries = [("dcim.device", i, "info", f"Zabbix: host srv-{i} created") for i in range(1, 121)]
    nb.add_journals(entries)
    assert sorted((e["assigned_object_id"], e["comments"]) for e in netbox.journal) == sorted(
        (i, c) for _t, i, _k, c in entries
    )


@responses.activate
def test_a_netbox_that_never_answers_stops_the_write_with_its_error() -> None:
    responses.add(responses.PATCH, DEVICES, body=requests.ReadTimeout("read timed out"))
    responses.add(responses.GET, DEVICES, json={"count": 0, "next": None, "results": []})
    nb = NetBoxClient(URL, "nbt_k.t", timeout=60, sleep=lambda _s: None)
    with pytest.raises(TransientError, match="record Zabbix host ids: ReadTimeout"):
        nb.write_zabbix_hostids("device", {1: "10001", 2: "10002"})
    assert len([c for c in responses.calls if c.request.method == "PATCH"]) == 7  # the first and 6 more


def test_an_empty_write_makes_no_call() -> None:
    outcome = write_in_chunks([], lambda _rows: None, lambda rows: rows, Pace(target=1.0, largest=10))
    assert (outcome.calls, outcome.reads, outcome.resent) == (0, 0, 0)


def test_a_write_neither_safe_to_repeat_nor_readable_back_raises_its_first_timeout() -> None:
    sent: list[list[int]] = []

    def send(rows: list[int]) -> None:
        sent.append(rows)
        raise TransientError("Zabbix", "item.create: timed out")

    with pytest.raises(TransientError, match=r"item\.create"):
        write_in_chunks([1, 2, 3], send, None, Pace(target=1.0, largest=10, sleep=lambda _s: None), max_timeouts=0)
    assert sent == [[1, 2, 3]]


def test_a_read_back_that_fails_is_tried_again_before_anything_is_resent() -> None:
    # the read fails, then finds 1 and 2, then the same again: settled, so 3 alone is sent again
    answers: list[Exception | list[int]] = [TransientError("NetBox", "read: timed out"), [1, 2], [1, 2]]
    sent: list[list[int]] = []

    def send(rows: list[int]) -> None:
        sent.append(rows)
        if len(sent) == 1:
            raise TransientError("NetBox", "write: timed out")

    def landed(_rows: list[int]) -> list[int]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    outcome = write_in_chunks([1, 2, 3], send, landed, Pace(target=1.0, largest=10, sleep=lambda _s: None))
    assert sent == [[1, 2, 3], [3]] and (outcome.reads, outcome.resent) == (3, 1)


@responses.activate
def test_sync_json_prints_an_object_with_the_error_when_netbox_fails(cli_store: Any, monkeypatch: Any) -> None:
    from agent.cli import app

    monkeypatch.setenv("DCAGENT_NETBOX__URL", URL)  # answered by nothing here: a connection error
    monkeypatch.setenv("DCAGENT_ZABBIX__URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["sync", "zabbix", "--json"])
    assert result.exit_code == 1
    shown = json.loads(result.stdout)
    assert shown["error"]["system"] == "NetBox" and shown["error"]["retryable"] is True
    assert shown["plan"] is False and "changes" not in shown
