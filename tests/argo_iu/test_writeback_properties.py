"""Properties of the Argo CD write-back: whatever the tag (numbers, booleans, dates as
text), the layout or the entries already there, the value reads back as written and every
other line stays."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from imagebot.manifests import yamlsource as ys
from imagebot.manifests.argowrite import WriteEdit, WriteTarget, plain, write_back

TAGS = st.one_of(
    st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z"),
    st.sampled_from(["1.10", "true", "no", "1e3", "0x1F", "2024-01-01", "010", "null", "~"]),
)
NAMES = st.sampled_from(["web", "registry.example.com/team/web", "ghcr.io/a/b"])


@st.composite
def kustomizations(draw: st.DrawFn) -> tuple[bytes, str]:
    indent = draw(st.sampled_from(["", "  "]))
    name = draw(NAMES)
    others = draw(st.lists(st.sampled_from(["other", "x/y", "z.io/q"]), unique=True, max_size=2))
    lines = ["resources:", f"{indent}- deployment.yaml"]
    if draw(st.booleans()) or others:
        lines.append("images:")
        for other in others:
            lines += [f"{indent}- name: {other}", f"{indent}  newTag: '1'"]
        if draw(st.booleans()):
            lines += [f"{indent}- name: {name}  # ours", f"{indent}  newTag: 0.0.1"]
    return ("\n".join(lines) + "\n").encode(), name


@settings(max_examples=150, deadline=None)
@given(kustomizations(), TAGS)
def test_a_kustomization_reads_back_with_the_new_tag_and_keeps_every_other_line(
    case: tuple[bytes, str], tag: str
):
    old, name = case
    target = WriteTarget("kustomization", "k.yaml", "argocd/web", name)

    result = write_back(old, [WriteEdit(target, tag, None, "web")])

    assert result.errors == []
    images = plain(ys.load(result.content).docs[0])["images"]
    assert [i for i in images if i["name"] == name] == [{"name": name, "newTag": tag}]
    new_lines = result.content.decode().splitlines()
    kept = [line for line in old.decode().splitlines() if "0.0.1" not in line]
    assert all(line in new_lines for line in kept)


@settings(max_examples=150, deadline=None)
@given(TAGS, st.booleans())
def test_a_new_or_edited_argocd_source_file_reads_back_as_the_tool_would_write(
    tag: str, exists: bool
):
    target = WriteTarget("source-helm", "s.yaml", "argocd/web", "registry.example.com/web")
    old = b"helm:\n  parameters:\n  - name: image.tag\n    value: old\n" if exists else None

    result = write_back(old, [WriteEdit(target, tag, None, "web")])

    assert result.errors == []
    params = plain(ys.load(result.content).docs[0])["helm"]["parameters"]
    assert {p["name"]: p["value"] for p in params} == {
        "image.name": "registry.example.com/web",
        "image.tag": tag,
    }
