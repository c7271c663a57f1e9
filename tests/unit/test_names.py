"""FQDN validation, by example and by property: what reaches DNS is a host name inside the managed zone."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.steps.names import MAX_NAME, fqdn_problem, normalise_fqdn

ZONE = "dc.lab"
label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\Z")


@pytest.mark.parametrize(
    ("fqdn", "problem"),
    [("simpeg.dc.lab", None), ("a.b-c.dc.lab", None), ("x1.dc.lab", None),
     ("", "empty"), ("*.dc.lab", "wildcard"), ("a.*.dc.lab", "wildcard"), ("dc.lab", "apex"),
     ("simpeg.example.org", "outside"), ("evildc.lab", "outside"), ("lab", "outside"),
     ("-web.dc.lab", "label"), ("web-.dc.lab", "label"), ("a..dc.lab", "label"), ("a" * 64 + ".dc.lab", "label"),
     ("web_01.dc.lab", "characters"), ("web 01.dc.lab", "characters"), ("wéb.dc.lab", "characters"),
     ("web\n.dc.lab", "characters"), (("a" * 60 + ".") * 5 + "dc.lab", "length")],
)  # fmt: skip
def test_examples(fqdn: str, problem: str | None) -> None:
    assert fqdn_problem(fqdn, ZONE) == problem


def test_normalise_strips_root_dot_blanks_and_case() -> None:
    assert normalise_fqdn("  SimPeg.DC.lab. ") == "simpeg.dc.lab"
    assert normalise_fqdn(None) == ""
    assert fqdn_problem(normalise_fqdn("WWW.dc.lab."), "dc.lab.") is None


@given(st.lists(label, min_size=1, max_size=4))
def test_any_host_of_valid_labels_inside_the_zone_is_accepted(labels: list[str]) -> None:
    fqdn = ".".join([*labels, ZONE])
    assert fqdn_problem(fqdn, ZONE) == (None if len(fqdn) <= MAX_NAME else "length")


@given(st.lists(label, min_size=1, max_size=3), st.sampled_from(["example.org", "lab", "dc.lab.example", "c.lab"]))
def test_no_name_outside_the_zone_is_accepted(labels: list[str], other: str) -> None:
    assert fqdn_problem(".".join([*labels, other]), ZONE) is not None


@given(st.text(min_size=1, max_size=40), st.lists(label, max_size=2))
def test_a_name_with_any_other_character_is_refused(text: str, labels: list[str]) -> None:
    allowed = set(string.ascii_lowercase + string.digits + ".-")
    fqdn = ".".join([*labels, text, ZONE])
    if set(text) - allowed:
        assert fqdn_problem(fqdn, ZONE) is not None


@given(st.lists(label, max_size=3))
def test_a_wildcard_anywhere_is_refused(labels: list[str]) -> None:
    assert fqdn_problem(".".join(["*", *labels, ZONE]), ZONE) == "wildcard"
