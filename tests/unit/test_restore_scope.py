"""A restore may replace only what a backup holds: its target is a backed-up path or inside one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.steps.restore import outside_backup

segment = st.from_regex(r"\A[a-z0-9_]{1,8}\Z")
path = st.lists(segment, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


@pytest.mark.parametrize(
    ("target", "inside"),
    [("/srv/data/app", True), ("/srv/data/app/uploads", True), ("/srv/data", False), ("/srv", False),
     ("/srv/data/application", False), ("/srv/data/ap", False), ("/etc", True), ("/etc/ssh/sshd_config", True)],
)  # fmt: skip
def test_examples(target: str, inside: bool) -> None:
    assert outside_backup(target, ("/srv/data/app", "/etc")) is not inside


@given(path, st.lists(segment, max_size=3))
def test_a_backed_up_path_and_everything_below_it_may_be_restored(root: str, below: list[str]) -> None:
    assert not outside_backup("/".join([root, *below]), (root,))


@given(path, segment)
def test_a_parent_or_a_sibling_sharing_a_prefix_may_not(root: str, extra: str) -> None:
    parent = root.rsplit("/", 1)[0] or "/"
    assert outside_backup(parent, (root,))
    assert outside_backup(root + extra, (root,))  # /srv/app vs /srv/application: another directory
