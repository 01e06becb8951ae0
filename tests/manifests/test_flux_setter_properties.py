"""Property: a marker naming a Flux ``ImagePolicy`` sets each marked value to its piece of the
policy's reference (name included), as Flux's setters do, and changes no other byte."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from imagebot.manifests import Edit, rewrite, scan_bytes
from imagebot.manifests.yamlsource import plain_reads_as_string

tags = st.from_regex(re.compile(r"v?[0-9]{1,3}(\.[0-9]{1,3}){0,2}(-[a-z]{1,6})?"), fullmatch=True)
names = st.sampled_from(["image", "ghcr.io/org/app", "index.repo.fake/updated", "localhost:5000/x"])
digests = st.one_of(st.none(), st.sampled_from(["sha256:" + c * 64 for c in "0ab"]))

POLICY = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: p, namespace: ns}}
spec: {{image: {image}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: p, namespace: ns}}
spec:
  imageRepositoryRef: {{name: p}}
  policy: {{semver: {{range: '*'}}}}
---
"""


def quoted(value: str, style: str) -> str:
    return {"plain": value, "single": f"'{value}'", "double": f'"{value}"'}[style]


@st.composite
def cases(draw):
    """(text, edit fields, expected text) for a whole-value or a name + tag marker."""
    style = draw(st.sampled_from(["plain", "single", "double"]))
    old_name, new_name = draw(names), draw(names)
    old_tag, new_tag = draw(tags), draw(tags)
    digest = draw(digests)
    comment = draw(st.sampled_from(["", "  # keep me", " # é"]))
    if style == "plain" and not plain_reads_as_string(new_tag):
        style = "double"
    if draw(st.booleans()):
        template = (
            "kind: Deployment\nmetadata: {{name: w}}\nspec:\n  template:\n    spec:\n"
            "      containers:\n      - name: c\n"
            '        image: {value} # {{"$imagepolicy": "ns:p"}}' + comment + "\n"
        )
        new = new_name + ":" + new_tag + (f"@{digest}" if digest else "")
        before = template.format(value=quoted(f"{old_name}:{old_tag}", style))
        after = template.format(value=quoted(new, style))
    else:
        template = (
            "images:\n- name: app\n"
            '  newName: {name} # {{"$imagepolicy": "ns:p:name"}}\n'
            '  newTag: {tag} # {{"$imagepolicy": "ns:p:tag"}}' + comment + "\n"
        )
        before = template.format(name=quoted(old_name, style), tag=quoted(old_tag, style))
        after = template.format(name=quoted(new_name, style), tag=quoted(new_tag, style))
        digest = None
    policy = POLICY.format(image=new_name)
    renamed = old_name != new_name
    return policy + before, (new_tag, digest, new_name if renamed else None), policy + after


@settings(max_examples=150, deadline=None)
@given(cases())
def test_flux_markers_set_exactly_the_marked_values(case):
    text, (new_tag, digest, new_name), expected = case
    found = scan_bytes(text.encode(), "kustomization.yaml")
    (site,) = found.sites
    assert site.error is None
    assert site.policy_image is not None

    result = rewrite(text.encode(), [Edit(site, new_tag, digest, new_name)])

    assert result.errors == []
    assert result.content.decode() == expected
