"""Tag and digest move together: a Helm values image written as ``{image|repository, tag,
digest}`` (ingress-nginx's chart) gets the new tag and the new tag's digest, or neither."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from imagebot.manifests import Edit, rewrite, scan_bytes
from tests.update.helpers import Bot

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def helm_release(values: str, *, policy: str = "semver:~1.0") -> str:
    return textwrap.dedent(
        """\
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: ingress
          namespace: edge
          annotations:
            imagebot.io/automated: "true"
            imagebot.io/tag.controller.image: "{policy}"
        spec:
          values:
        """
    ).format(policy=policy) + textwrap.indent(textwrap.dedent(values), "    ")


INGRESS_NGINX = helm_release(
    f"""\
    controller:
      image:
        chroot: false
        registry: registry.k8s.io
        image: ingress-nginx/controller
        tag: "v1.9.4"
        digest: {OLD}
        pullPolicy: IfNotPresent
    """,
    policy="semver:~1.9",
)


def test_the_digest_beside_an_image_and_tag_is_read_with_them():
    (site,) = scan_bytes(INGRESS_NGINX.encode()).sites

    assert (site.tag, site.digest) == ("v1.9.4", OLD)
    assert [p.role for p in site.parts] == ["registry", "name", "tag", "digest"]
    assert site.reference_text == f"registry.k8s.io/ingress-nginx/controller:v1.9.4@{OLD}"


def test_a_new_tag_without_its_digest_is_refused_and_nothing_changes():
    (site,) = scan_bytes(INGRESS_NGINX.encode()).sites

    result = rewrite(INGRESS_NGINX.encode(), [Edit(site, "v1.9.5")])

    assert result.content == INGRESS_NGINX.encode()
    assert "pinned by digest" in result.errors[0]


def test_a_new_tag_and_its_digest_are_written_together():
    (site,) = scan_bytes(INGRESS_NGINX.encode()).sites

    result = rewrite(INGRESS_NGINX.encode(), [Edit(site, "v1.9.5", NEW)])

    assert result.errors == []
    assert result.content == INGRESS_NGINX.replace("v1.9.4", "v1.9.5").replace(OLD, NEW).encode()


def marked(policy_document: str) -> str:
    return textwrap.dedent(
        f"""\
        image:
          repository: ghcr.io/org/app
          tag: 1.0.0 # {{"$imagepolicy": "apps:app:tag"}}
          digest: {OLD}
        ---
        """
    ) + textwrap.dedent(policy_document)


def test_a_tag_marked_for_an_imagebot_policy_takes_the_digest_written_beside_it():
    text = marked(
        """\
        apiVersion: imagebot.io/v1
        kind: ImagePolicy
        metadata: {name: app, namespace: apps}
        spec: {image: ghcr.io/org/app, policy: "semver:~1.0"}
        """
    )
    (site,) = scan_bytes(text.encode()).sites

    assert site.digest == OLD
    assert rewrite(text.encode(), [Edit(site, "1.0.1")]).content == text.encode()
    both = rewrite(text.encode(), [Edit(site, "1.0.1", NEW)]).content
    assert both == text.replace("tag: 1.0.0", "tag: 1.0.1").replace(OLD, NEW).encode()


def test_a_tag_marked_for_a_flux_policy_is_written_alone_as_flux_does():
    text = marked(
        """\
        apiVersion: image.toolkit.fluxcd.io/v1beta2
        kind: ImagePolicy
        metadata: {name: app, namespace: apps}
        spec:
          imageRepositoryRef: {name: app}
          policy: {semver: {range: 1.0.x}}
        ---
        apiVersion: image.toolkit.fluxcd.io/v1beta2
        kind: ImageRepository
        metadata: {name: app, namespace: apps}
        spec: {image: ghcr.io/org/app}
        """
    )
    (site,) = scan_bytes(text.encode()).sites

    assert [p.role for p in site.parts] == ["tag"]


quoting = st.sampled_from(["{}", "'{}'", '"{}"'])


@settings(max_examples=60, deadline=None)
@given(
    tag_style=quoting,
    digest_style=quoting,
    name_key=st.sampled_from(["image", "repository"]),
    registry=st.booleans(),
    order=st.permutations(["name", "tag", "digest"]),
    new_tag=st.sampled_from(["1.0.0", "1.0.1", "2.0"]),
    new_digest=st.sampled_from([None, OLD, NEW]),
)
def test_tag_and_digest_change_together_or_not_at_all(
    tag_style, digest_style, name_key, registry, order, new_tag, new_digest
):
    lines = {
        "name": f"{name_key}: org/app",
        "tag": "tag: " + tag_style.format("1.0.0"),
        "digest": "digest: " + digest_style.format(OLD),
    }
    body = ("registry: ghcr.io\n" if registry else "") + "".join(f"{lines[k]}\n" for k in order)
    text = helm_release("image:\n" + textwrap.indent(body, "  "))
    (site,) = scan_bytes(text.encode()).sites

    result = rewrite(text.encode(), [Edit(site, new_tag, new_digest)])

    (after,) = scan_bytes(result.content).sites
    if (after.tag, after.digest) != (site.tag, site.digest):
        # never a new tag beside a digest that was not resolved for it
        assert (after.tag, after.digest) == (new_tag, new_digest)
    if new_digest is None and new_tag != site.tag:
        assert result.content == text.encode()


# --- through the registry: the digest comes from the resolution pinned references use -------


def test_an_update_cycle_writes_the_new_tag_and_the_digest_it_points_at(bot: Bot, repo_name: str):
    image = f"{repo_name}/controller"
    old = bot.registry.push(image, ["v1.9.4"], created=T0)
    new = bot.registry.push(image, ["v1.9.5"], created=T0 + timedelta(hours=1))
    text = INGRESS_NGINX.replace("registry.k8s.io", bot.registry.host)
    text = text.replace("ingress-nginx/controller", image).replace(OLD, old.digest)
    remote = bot.remote({"release.yaml": text.encode()})

    report = bot.run(remote)

    assert [r.new_digest for r in report.applied] == [new.digest]
    written = remote.read("release.yaml").decode()
    assert written == text.replace("v1.9.4", "v1.9.5").replace(old.digest, new.digest)
