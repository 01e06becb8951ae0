"""The dry run's diff: values changed in place are shown as difflib shows them, fast."""

from __future__ import annotations

import difflib

from hypothesis import given
from hypothesis import strategies as st

from imagebot.update.changes import ChangeSet


@given(
    size=st.integers(0, 60),
    changed=st.lists(st.integers(0, 59), max_size=6),
    final_newline=st.booleans(),
)
def test_lines_changed_in_place_diff_exactly_as_difflib_says(size, changed, final_newline):
    old = [f"  key{i}: value {i}\n" for i in range(size)]
    if old and not final_newline:
        old[-1] = old[-1].rstrip("\n")
    new = list(old)
    for i in changed:
        if i < size:
            new[i] = new[i].replace("value", "image:9.9.9")
    changes = ChangeSet(
        files={"f.yaml": "".join(new).encode()}, old={"f.yaml": "".join(old).encode()}
    )
    expected = "".join(
        line if line.endswith("\n") else line + "\n"
        for line in difflib.unified_diff(old, new, "a/f.yaml", "b/f.yaml")
    )
    assert changes.diff() == expected


def test_a_change_in_the_number_of_lines_is_diffed_by_difflib():
    changes = ChangeSet(files={"f": b"a\nb\nc\n"}, old={"f": b"a\nc\n"})
    assert changes.diff() == "--- a/f\n+++ b/f\n@@ -1,2 +1,3 @@\n a\n+b\n c\n"
