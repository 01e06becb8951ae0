"""An edit never changes a workload it was not decided for, even through anchors, aliases and
merge keys: a shared value changes only when every site reading it is part of the change."""

from __future__ import annotations

import importlib
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagebot.manifests import Edit, ImageSite, rewrite, scan_bytes
from imagebot.manifests.sharing import Change, problems
from imagebot.manifests.yamlsource import load

AUTOMATED = '  annotations: {imagebot.io/automated: "true"}\n'
LOCKED = '  annotations: {imagebot.io/automated: "true", imagebot.io/locked: "true"}\n'


def listed(*items: str) -> str:
    """A ``kind: List`` document: anchors are per document, so items can share them."""
    return "apiVersion: v1\nkind: List\nitems:\n" + "".join(items)


def pod(name: str, annotations: str, *containers: str) -> str:
    return (
        f"- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: {name}\n"
        + textwrap.indent(annotations, "  ")
        + "  spec:\n    containers:\n"
        + "".join(f"    - {c}\n" for c in containers)
    )


def sites_of(text: str) -> dict[str, ImageSite]:
    return {f"{s.name}/{s.container}": s for s in scan_bytes(text.encode()).sites}


def test_a_value_shared_with_a_locked_workload_is_not_changed_and_the_lock_is_named():
    text = listed(
        pod("web", AUTOMATED, "{name: app, image: &img 'nginx:1.25.3'}"),
        pod("admin", LOCKED, "{name: app, image: *img}"),
    )
    sites = sites_of(text)

    result = rewrite(text.encode(), [Edit(sites["web/app"], "1.25.4")])

    assert result.content == text.encode()
    assert result.applied == []
    (error,) = result.errors
    assert "shared through anchor &img with a locked workload default:pod/admin" in error


def test_nothing_in_the_file_changes_when_one_shared_value_is_refused():
    text = listed(
        pod(
            "web",
            AUTOMATED,
            "{name: app, image: &img 'nginx:1.25.3'}",
            "{name: log, image: busybox:1.36}",
        ),
        pod("admin", LOCKED, "{name: app, image: *img}"),
    )
    sites = sites_of(text)

    result = rewrite(
        text.encode(), [Edit(sites["web/app"], "1.25.4"), Edit(sites["web/log"], "1.37")]
    )

    assert result.content == text.encode()
    assert [e for e in result.errors if "web container log" in e and "not applied" in e]


def test_a_shared_value_changes_when_every_site_reading_it_gets_the_same_tag():
    text = listed(
        pod("web", AUTOMATED, "{name: app, image: &img 'nginx:1.25.3'}"),
        pod("api", AUTOMATED, "{name: app, image: *img}"),
    )
    sites = sites_of(text)

    result = rewrite(
        text.encode(), [Edit(sites["web/app"], "1.25.4"), Edit(sites["api/app"], "1.25.4")]
    )

    assert result.errors == []
    assert result.content == text.replace("1.25.3", "1.25.4").encode()


def test_a_shared_value_is_not_changed_for_a_workload_that_is_not_automated():
    text = listed(
        pod("web", AUTOMATED, "{name: app, image: &img 'nginx:1.25.3'}"),
        pod("manual", "", "{name: app, image: *img}"),
    )
    result = rewrite(text.encode(), [Edit(sites_of(text)["web/app"], "1.25.4")])

    assert result.content == text.encode()
    assert "default:pod/manual container app (line 18), which is not automated" in result.errors[0]


def test_a_value_reached_through_a_merge_key_names_the_merge_key():
    text = textwrap.dedent(
        """\
        x-base: &base
          image: app:1.0
        services:
          web:
            <<: *base
          worker:
            <<: *base
            command: work
        """
    )
    sites = {s.container: s for s in scan_bytes(text.encode(), "compose.yaml").sites}

    alone = rewrite(text.encode(), [Edit(sites["web"], "1.1")])
    both = rewrite(text.encode(), [Edit(sites["web"], "1.1"), Edit(sites["worker"], "1.1")])

    assert alone.content == text.encode()
    assert (
        "shared through merge key <<: *base with <cluster>:composeservice/worker"
        in (alone.errors[0])
    )
    assert both.errors == []
    assert both.content == text.replace("app:1.0", "app:1.1").encode()


def test_two_sites_sharing_a_value_but_decided_for_different_tags_change_nothing():
    text = listed(
        pod("web", AUTOMATED, "{name: app, image: &img 'nginx:1.25.3'}"),
        pod("api", AUTOMATED, "{name: app, image: *img}"),
    )
    sites = sites_of(text)

    result = rewrite(
        text.encode(), [Edit(sites["web/app"], "1.25.4"), Edit(sites["api/app"], "1.26.0")]
    )

    assert result.content == text.encode()
    assert any("which this change sets to 'nginx:1.25.4'" in e for e in result.errors)


def test_an_alias_of_the_tag_in_the_same_workload_follows_it():
    text = textwrap.dedent(
        """\
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: app
          annotations: {imagebot.io/automated: "true"}
        spec:
          values:
            image: {repository: ghcr.io/org/app, tag: &v 1.0.0}
            podLabels: {version: *v}
        """
    )
    (site,) = scan_bytes(text.encode()).sites

    result = rewrite(text.encode(), [Edit(site, "1.0.1")])

    assert result.errors == []
    assert result.content == text.replace("&v 1.0.0", "&v 1.0.1").encode()


def test_an_alias_of_the_tag_in_another_item_of_a_list_is_another_workload():
    text = listed(
        pod("web", AUTOMATED, "{name: app, image: &img 'nginx:1.25.3'}"),
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n  data: {image: *img}\n",
    )
    result = rewrite(text.encode(), [Edit(sites_of(text)["web/app"], "1.25.4")])

    assert result.content == text.encode()
    assert "items.1.data.image (line 15) in another workload" in result.errors[0]


@pytest.mark.parametrize("discovered_in", ["these bytes", "bytes changed elsewhere"])
def test_the_same_check_runs_on_the_file_as_it_reads_back(monkeypatch, discovered_in):
    # Sites read from these very bytes are spliced without a parse before (one after);
    # sites read earlier make rewrite read the file first. Either way the re-read is checked:
    # here the check is blinded on every read but the one after splicing.
    rw = importlib.import_module("imagebot.manifests.rewrite")
    text = listed(
        pod("web", AUTOMATED, "{name: app, image: &img 'nginx:1.25.3'}"),
        pod("admin", LOCKED, "{name: app, image: *img}"),
    )
    site = sites_of(text)["web/app"]
    content = (text if discovered_in == "these bytes" else text + "# a comment\n").encode()
    seen: list[bytes] = []

    def only_after_splicing(source, changes, sites):
        seen.append(source.data)
        return problems(source, changes, sites) if source.data != content else []

    monkeypatch.setattr(rw.sharing, "problems", only_after_splicing)
    result = rewrite(content, [Edit(site, "1.25.4")])

    assert seen[-1] != content
    assert result.content == content
    assert "locked workload default:pod/admin" in result.errors[0]


def test_problems_is_empty_for_a_file_without_sharing():
    text = listed(pod("web", AUTOMATED, "{name: app, image: 'nginx:1.25.3'}"))
    site = sites_of(text)["web/app"]
    part = site.parts[0]

    assert problems(load(text.encode()), [Change(Edit(site, "1.25.4"), part, "x")], list) == []


# --- property: whatever is shared and whatever is decided, only decided sites change ---------


@st.composite
def shared_lists(draw):
    """A List of pods whose images are own values, aliases of one anchor, or merged."""
    n = draw(st.integers(1, 4))
    uses = draw(st.lists(st.sampled_from(["own", "alias", "merge"]), min_size=n, max_size=n))
    states = draw(
        st.lists(st.sampled_from(["automated", "locked", "manual"]), min_size=n, max_size=n)
    )
    head = "apiVersion: v1\nkind: List\nx-base: &base {image: 'app:1.0', name: app}\nitems:\n"
    items, anchored = [], False
    for i, (use, state) in enumerate(zip(uses, states, strict=True)):
        ann = {"automated": AUTOMATED, "locked": LOCKED, "manual": ""}[state]
        if use == "own":
            container = "{name: app, image: 'app:1.0'}"
        elif use == "alias" and not anchored:
            container, anchored = "{name: app, image: &img 'app:1.0'}", True
        elif use == "alias":
            container = "{name: app, image: *img}"
        else:
            container = "{<<: *base}"
        items.append(pod(f"w{i}", ann, container))
    return head + "".join(items)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=shared_lists(), data=st.data())
def test_only_sites_decided_for_a_tag_ever_read_that_tag(text, data):
    sites = scan_bytes(text.encode()).sites
    decided = [s for s in sites if s.updatable]
    chosen = data.draw(st.lists(st.sampled_from(decided), unique_by=id) if decided else st.just([]))
    tags = {s.id: data.draw(st.sampled_from(["1.1", "1.2"])) for s in chosen}

    result = rewrite(text.encode(), [Edit(s, tags[s.id]) for s in chosen])

    after = {s.id: s.tag for s in scan_bytes(result.content).sites}
    for site in sites:
        if after[site.id] != site.tag:
            assert tags.get(site.id) == after[site.id], (site.id, result.errors)
    if result.content == text.encode():
        assert result.errors or not chosen
