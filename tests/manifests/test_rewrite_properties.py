"""Property: on generated YAML in every style, a rewrite changes the image values and nothing
else, reads back as intended, and rewriting back restores the bytes."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagebot.manifests import Edit, rewrite, scan_bytes
from imagebot.manifests.yamlsource import plain_reads_as_string, plain_type

NULLS = {"null", "Null", "NULL"}
tags = st.one_of(
    st.sampled_from(
        ["1.20", "1.2.3", "v2", "2024-01-05", "0755", "true", "yes", "On", "1e5", "1_000", "latest"]
    ),
    st.from_regex(re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,15}"), fullmatch=True),
).filter(lambda t: t not in NULLS)
repos = st.sampled_from(["nginx", "ghcr.io/org/app", "localhost:5000/x/y", "bitnami/redis"])


@st.composite
def scalar(draw, value: str, anchor: str) -> str:
    style = draw(st.sampled_from(["plain", "single", "double"]))
    if style == "single":
        text = f"'{value}'"
    elif style == "double":
        text = f'"{value}"'
    else:
        text = value
    if draw(st.booleans()) and draw(st.booleans()):
        text = f"&{anchor} {text}"
    return text


@st.composite
def documents(draw):
    """(text, {container: (repo, tag)}) for a Deployment and a Flux Kustomization."""
    ind = " " * draw(st.integers(1, 4))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    seq = draw(st.sampled_from(["", ind]))

    def tail() -> str:
        spaces = " " * draw(st.integers(0, 3)) if draw(st.booleans()) else ""
        comment = (
            f" # note {draw(st.sampled_from(['é', 'x', '☕', '#']))}" if draw(st.booleans()) else ""
        )
        return spaces + comment

    images: dict[str, tuple[str, str]] = {}
    lines = []
    if draw(st.booleans()):
        lines.append("---" + tail())
    lines += [
        "apiVersion: apps/v1" + tail(),
        "kind: Deployment",
        "metadata:",
        f"{ind}name: web" + tail(),
        "# a comment line",
        "spec:",
        f"{ind}template:",
        f"{ind * 2}spec:",
        f"{ind * 3}containers:" + tail(),
    ]
    for k in range(draw(st.integers(1, 3))):
        repo, tag = draw(repos), draw(tags)
        images[f"c{k}"] = (repo, tag)
        value = draw(scalar(f"{repo}:{tag}", f"c{k}"))
        if draw(st.booleans()):
            lines.append(f"{ind * 3}{seq}- {{name: c{k}, image: {value}}}" + tail())
        else:
            lines.append(f"{ind * 3}{seq}- name: c{k}" + tail())
            if draw(st.booleans()):
                lines.append("")
            lines.append(f"{ind * 3}{seq}  image: {value}" + tail())
    lines += [
        "---",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1",
        "kind: Kustomization",
        "metadata: {name: k}",
        "spec:",
        f"{ind}path: ./x",
        f"{ind}images:",
    ]
    for k in range(draw(st.integers(1, 2))):
        repo, tag = draw(repos), draw(tags)
        images[f"app{k}"] = (repo, tag)
        lines.append(f"{ind}{seq}- name: app{k}")
        lines.append(f"{ind}{seq}  newName: {draw(scalar(repo, f'n{k}'))}" + tail())
        lines.append(f"{ind}{seq}  newTag: {draw(scalar(tag, f't{k}'))}" + tail())
    text = eol.join(lines) + (eol if draw(st.booleans()) else "")
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text, images


def gaps(data: bytes, spans: list[tuple[int, int]]) -> list[bytes]:
    out, pos = [], 0
    for start, end in sorted(spans):
        out.append(data[pos:start])
        pos = end
    out.append(data[pos:])
    return out


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_rewrite_changes_only_the_values_and_back_restores_the_bytes(doc, data):
    text, images = doc
    original = text.encode("utf-8")
    found = scan_bytes(original)
    assert found.errors == []
    sites = {s.container: s for s in found.sites}
    assert {c: (s.image.written_name, s.tag) for c, s in sites.items()} == images

    new_tags = {c: data.draw(tags, label=f"new tag for {c}") for c in sites}
    result = rewrite(original, [Edit(site, new_tags[c]) for c, site in sites.items()])
    assert result.errors == []

    again = {s.container: s for s in scan_bytes(result.content).sites}
    assert {c: (s.image.written_name, s.tag) for c, s in again.items()} == {
        c: (repo, new_tags[c]) for c, (repo, _) in images.items()
    }
    old_spans = [(p.start, p.end) for s in sites.values() for p in s.parts]
    new_spans = [(p.start, p.end) for s in again.values() for p in s.parts]
    assert gaps(original, old_spans) == gaps(result.content, new_spans)

    for note in result.notes:
        assert "to keep it a string" in note
    quoted = {
        c
        for c, s in sites.items()
        if (part := s.part("tag")) is not None
        and part.style == ""
        and not plain_reads_as_string(new_tags[c])
        and (plain_reads_as_string(part.value) or plain_type(part.value) != plain_type(new_tags[c]))
    }
    assert len(result.notes) == len(quoted)
    for c in quoted:
        assert again[c].part("tag").style == '"'

    back = rewrite(result.content, [Edit(again[c], sites[c].tag) for c in again])
    assert back.errors == []
    assert {s.container: s.tag for s in scan_bytes(back.content).sites} == {
        c: tag for c, (_, tag) in images.items()
    }
    if not quoted and not back.notes:  # quotes added either way stay: they are safe
        assert back.content == original
