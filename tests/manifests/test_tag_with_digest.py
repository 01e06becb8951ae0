"""``tag: 0.1@sha256:...`` in Helm values (tag and digest in one value, as Argo CD Image
Updater's digest strategy writes it) is a tag plus a pinned digest, updated together like
``image: repo:tag@sha256:...``."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

from imagebot.manifests import Edit, rewrite, scan_bytes
from tests.update.helpers import Bot

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def release(image: str = "ghcr.io/org/app", tag: str = f"0.1@{OLD}", policy: str = "glob:0.*"):
    return textwrap.dedent(
        f"""\
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: app
          namespace: apps
          annotations:
            imagebot.io/automated: "true"
            imagebot.io/tag.chart-image: "{policy}"
        spec:
          values:
            image:
              repository: {image}
              tag: {tag}  # written by the digest strategy
        """
    )


def test_a_tag_value_with_a_digest_reads_as_the_tag_and_its_pin():
    (site,) = scan_bytes(release().encode()).sites

    assert site.error is None
    assert (site.tag, site.digest) == ("0.1", OLD)
    assert site.reference_text == f"ghcr.io/org/app:0.1@{OLD}"


def test_a_new_tag_is_written_with_its_digest_in_the_same_value():
    text = release(tag=f"'0.1@{OLD}'")
    (site,) = scan_bytes(text.encode()).sites

    result = rewrite(text.encode(), [Edit(site, "0.2", NEW)])

    assert result.errors == []
    assert result.content == text.replace(f"'0.1@{OLD}'", f"'0.2@{NEW}'").encode()


def test_a_new_tag_without_its_digest_is_refused():
    (site,) = scan_bytes(release().encode()).sites

    result = rewrite(release().encode(), [Edit(site, "0.2")])

    assert result.content == release().encode()
    assert "pinned by digest" in result.errors[0]


def test_a_moved_digest_under_the_same_tag_is_written():
    (site,) = scan_bytes(release().encode()).sites

    result = rewrite(release().encode(), [Edit(site, "0.1", NEW)])

    assert result.content == release(tag=f"0.1@{NEW}").encode()


def test_a_digest_in_the_tag_and_another_in_digest_is_an_error():
    text = release() + f"      digest: {NEW}\n"

    (site,) = scan_bytes(text.encode()).sites

    assert "digest" in (site.error or "")


def test_a_digest_alone_in_the_tag_value_pins_without_a_tag():
    (site,) = scan_bytes(release(tag=f"'@{OLD}'").encode()).sites

    assert (site.tag, site.digest, site.error) == (None, OLD, None)


def test_an_update_cycle_moves_the_tag_and_its_digest_together(bot: Bot, repo_name: str):
    image = f"{repo_name}/argo"
    old = bot.registry.push(image, ["0.1"], created=T0)
    new = bot.registry.push(image, ["0.2"], created=T0 + timedelta(hours=1))
    text = release(f"{bot.registry.host}/{image}", f"0.1@{old.digest}")
    remote = bot.remote({"release.yaml": text.encode()})

    report = bot.run(remote)

    assert [(r.new_tag, r.new_digest) for r in report.applied] == [("0.2", new.digest)]
    assert remote.read("release.yaml").decode() == text.replace(
        f"0.1@{old.digest}", f"0.2@{new.digest}"
    )
