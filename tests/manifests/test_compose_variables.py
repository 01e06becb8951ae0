"""Docker Compose images written as ``${VAR:-repo:tag}``: read and rewritten through their
default; an image that only the environment gives is noted and left alone."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from imagebot.manifests import Edit, rewrite, scan_bytes
from tests.manifests.helpers import by_container

COMPOSE = b"""\
services:
  web:
    image: "${WEB_IMAGE:-ghcr.io/org/web:1.2.3}"   # local default
  api:
    image: ${API_IMAGE-org/api:2.0}
  db:
    image: ${DB_IMAGE}
  worker:
    image: ${REGISTRY}/worker:${TAG:-1.0}
  cache:
    image: redis:7.2
"""


def test_a_default_is_read_as_the_image(scan):
    found = scan({"compose.yaml": COMPOSE})
    sites = by_container(found)
    assert {c: (s.reference_text, s.tag, s.error) for c, s in sites.items()} == {
        "web": ("ghcr.io/org/web:1.2.3", "1.2.3", None),
        "api": ("org/api:2.0", "2.0", None),
        "cache": ("redis:7.2", "7.2", None),
    }
    assert found.errors == []


def test_an_image_only_the_environment_gives_is_skipped_with_a_note_not_an_error(scan):
    found = scan({"compose.yaml": COMPOSE})
    assert [(i.file, i.line) for i in found.skipped] == [("compose.yaml", 7), ("compose.yaml", 9)]
    assert "${DB_IMAGE}" in found.skipped[0].message
    assert "not read" in found.skipped[0].message
    assert not found.has_errors


def test_the_default_is_rewritten_inside_the_variable_and_nothing_else_moves(scan):
    sites = by_container(scan({"compose.yaml": COMPOSE}))
    result = rewrite(COMPOSE, [Edit(sites["web"], "1.3.0"), Edit(sites["api"], "2.1")])
    assert result.errors == []
    assert result.content == COMPOSE.replace(b"web:1.2.3}", b"web:1.3.0}").replace(
        b"org/api:2.0}", b"org/api:2.1}"
    )


def test_a_rewritten_default_reads_back_as_the_new_image(scan):
    sites = by_container(scan({"compose.yaml": COMPOSE}))
    new = rewrite(COMPOSE, [Edit(sites["web"], "1.3.0")]).content
    again = by_container(scan({"compose.yaml": new}))
    assert again["web"].reference_text == "ghcr.io/org/web:1.3.0"


tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    old=tags,
    new=tags,
    quote=st.sampled_from(["", '"', "'"]),
    dash=st.sampled_from([":-", "-"]),
)
def test_any_default_is_rewritten_in_place_and_reads_back(old, new, quote, dash):
    value = f"${{APP_IMAGE{dash}ghcr.io/org/app:{old}}}"
    data = f"services:\n  app:\n    image: {quote}{value}{quote}  # local\n".encode()
    (site,) = scan_bytes(data, "compose.yaml").sites
    assert site.tag == old

    result = rewrite(data, [Edit(site, new)])

    assert result.errors == []
    assert result.content == data.replace(f"app:{old}}}".encode(), f"app:{new}}}".encode())
    (again,) = scan_bytes(result.content, "compose.yaml").sites
    assert (again.tag, again.reference_text) == (new, f"ghcr.io/org/app:{new}")
