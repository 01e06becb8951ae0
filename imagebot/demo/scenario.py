"""What the demo shows: its GitOps repository, the policies in it, and the releases it pushes.

The repository is built from real manifests in ``imagebot/demo/examples/`` (copied unchanged
from sock-shop and podinfo; package data, so an installed imagebot has them too). Policies are
then added the way people add them: annotations on a workload (imagebot's own keys on one,
Flux v1's on others), and a kustomization ``images:`` entry with a ``$imagepolicy`` marker
naming a policy file. Everything the demo explains later is read from the tables below, so the
story and the data cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from imagebot.errors import ImagebotError

#: The example manifests: package data beside this module, in a checkout and when installed.
EXAMPLES = Path(__file__).resolve().parent / "examples"


class ExamplesMissing(ImagebotError):
    """The demo's ``examples/`` package data is not there or was edited."""

    exit_code = 2


@dataclass(frozen=True)
class Release:
    """Tags of one image in the registry: those there at the start, and those pushed later."""

    repository: str  # as imagebot names it: docker.io/weaveworksdemos/carts
    existing: tuple[str, ...]  # oldest first; the last one is what Git says today
    newer: tuple[str, ...]


@dataclass(frozen=True)
class Workload:
    """One container in the demo repository and what should become of it."""

    name: str
    file: str
    container: str
    repository: str
    tag: str
    how: str  # how its policy is written, for the explanation
    policy: str | None
    expected: str | None  # the tag the bot should write; None: the line must not change
    why: str = ""  # when expected is None: why it stays
    #: A line under the explanation; {released}, {would} and {policy} are filled in.
    detail: str = ""


RELEASES: tuple[Release, ...] = (
    Release(
        "docker.io/weaveworksdemos/front-end",
        ("0.3.10", "0.3.11", "0.3.12"),
        ("0.3.13", "0.3.14-rc.1", "0.4.0"),
    ),
    Release(
        "docker.io/weaveworksdemos/carts",
        ("0.4.6", "0.4.7", "0.4.8"),
        ("0.4.9", "0.4.10", "1.0.0"),
    ),
    Release("docker.io/weaveworksdemos/orders", ("0.4.6", "0.4.7"), ("0.4.8",)),
    Release("docker.io/weaveworksdemos/catalogue", ("0.3.4", "0.3.5"), ("0.3.6",)),
    Release(
        "ghcr.io/stefanprodan/podinfo",
        ("6.13.0", "6.14.0", "6.14.1"),
        ("6.14.2", "6.15.0", "7.0.0"),
    ),
    Release(
        "docker.io/library/redis",
        ("8.6.2", "8.8.0-alpine", "8.8.0"),
        ("8.8.1", "8.8.2-alpine", "9.0.0"),
    ),
)

LOCK_MESSAGE = "Waiting for the orders database migration (PLAT-142)"

WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "front-end",
        "sock-shop/front-end-dep.yaml",
        "front-end",
        "docker.io/weaveworksdemos/front-end",
        "0.3.12",
        "imagebot.io annotations",
        "semver:~0.3",
        "0.3.13",
    ),
    Workload(
        "carts",
        "sock-shop/carts-dep.yaml",
        "carts",
        "docker.io/weaveworksdemos/carts",
        "0.4.8",
        "Flux v1 fluxcd.io annotations",
        "semver:~0.4",
        "0.4.10",
    ),
    Workload(
        "podinfo",
        "podinfo/kustomization.yaml",
        "ghcr.io/stefanprodan/podinfo",
        "ghcr.io/stefanprodan/podinfo",
        "6.14.1",
        "kustomize images: entry, marker -> policies/podinfo.yaml",
        "semver:^6.0.0",
        "6.15.0",
    ),
    Workload(
        "cache",
        "cache/deployment.yaml",
        "redis",
        "docker.io/library/redis",
        "8.8.0",
        "imagebot.io annotations",
        "semver:~8.8",
        "8.8.1",
    ),
    Workload(
        "orders",
        "sock-shop/orders-dep.yaml",
        "orders",
        "docker.io/weaveworksdemos/orders",
        "0.4.7",
        "Flux v1 fluxcd.io annotations",
        "semver:~0.4",
        None,
        f'locked (fluxcd.io/locked: "{LOCK_MESSAGE}")',
        "{would} qualifies under {policy}: it is written once someone removes the lock",
    ),
    Workload(
        "catalogue",
        "sock-shop/catalogue-dep.yaml",
        "catalogue",
        "docker.io/weaveworksdemos/catalogue",
        "0.3.5",
        "no annotations",
        None,
        None,
        "not automated: no annotation asks imagebot to update it",
        "{released} is in the registry: `imagebot list-images --latest` reports it, "
        "nothing is written",
    ),
    Workload(
        "podinfo",
        "podinfo/deployment.yaml",
        "podinfod",
        "ghcr.io/stefanprodan/podinfo",
        "6.14.1",
        "no annotations",
        None,
        None,
        "not automated: kustomize replaces this tag by the kustomization's images: entry",
    ),
)

#: Demo repository path -> example file it is copied from, unchanged.
UPSTREAM: dict[str, str] = {
    "sock-shop/front-end-dep.yaml": "sock-shop/front-end-dep.yaml",
    "sock-shop/carts-dep.yaml": "sock-shop/carts-dep.yaml",
    "sock-shop/orders-dep.yaml": "sock-shop/orders-dep.yaml",
    "sock-shop/catalogue-dep.yaml": "sock-shop/catalogue-dep.yaml",
    "podinfo/kustomization.yaml": "podinfo/kustomize/kustomization.yaml",
    "podinfo/deployment.yaml": "podinfo/kustomize/deployment.yaml",
    "podinfo/service.yaml": "podinfo/kustomize/service.yaml",
    "podinfo/hpa.yaml": "podinfo/kustomize/hpa.yaml",
    "cache/deployment.yaml": "podinfo/cache/deployment.yaml",
}

#: Workload file -> annotations added under its metadata.name (insertion order kept).
ANNOTATIONS: dict[str, dict[str, str]] = {
    "sock-shop/front-end-dep.yaml": {
        "imagebot.io/automated": "true",
        "imagebot.io/tag.front-end": "semver:~0.3",
    },
    "sock-shop/carts-dep.yaml": {
        "fluxcd.io/automated": "true",
        "fluxcd.io/tag.carts": "semver:~0.4",
    },
    "sock-shop/orders-dep.yaml": {
        "fluxcd.io/automated": "true",
        "fluxcd.io/tag.orders": "semver:~0.4",
        "fluxcd.io/locked": "true",
        "fluxcd.io/locked_msg": LOCK_MESSAGE,
    },
    "cache/deployment.yaml": {
        "imagebot.io/automated": "true",
        "imagebot.io/tag.redis": "semver:~8.8",
    },
}

KUSTOMIZE_IMAGES = """\
images:
  - name: ghcr.io/stefanprodan/podinfo
    newTag: 6.14.1 # {"$imagepolicy": "flux-system:podinfo:tag"}
"""

PODINFO_POLICY = """\
# Follow podinfo's 6.x releases, never a new major version. The marker comment
# in podinfo/kustomization.yaml refers to this policy by namespace and name.
apiVersion: imagebot.io/v1
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: flux-system
spec:
  image: ghcr.io/stefanprodan/podinfo
  policy: semver:^6.0.0
"""

README = """\
# Demo GitOps repository

Built by `imagebot demo` from the example manifests shipped with imagebot (sock-shop from
argoproj/argocd-example-apps, podinfo from stefanprodan/podinfo). Image updates are made by
imagebot; see `git log`.
"""


def upstream_files(examples: Path = EXAMPLES) -> dict[str, bytes]:
    """The demo repository's first commit: example manifests exactly as upstream wrote them."""
    files = {"README.md": README.encode()}
    for target, source in UPSTREAM.items():
        path = examples / source
        try:
            files[target] = path.read_bytes()
        except OSError as exc:
            raise ExamplesMissing(
                f"cannot read {path}: {exc.strerror}",
                hint="the demo's manifests ship with imagebot (imagebot/demo/examples/): "
                "reinstall imagebot, or run ./dev demo from a checkout",
            ) from None
    return files


def with_policies(files: dict[str, bytes]) -> dict[str, bytes]:
    """The second commit: what a user adds so that imagebot manages some of the images."""
    out = dict(files)
    for path, added in ANNOTATIONS.items():
        out[path] = annotate(files[path], added, file=path)
    kustomization = files["podinfo/kustomization.yaml"]
    if not kustomization.endswith(b"\n"):
        kustomization += b"\n"
    out["podinfo/kustomization.yaml"] = kustomization + KUSTOMIZE_IMAGES.encode()
    out["policies/podinfo.yaml"] = PODINFO_POLICY.encode()
    return out


def annotate(content: bytes, added: dict[str, str], *, file: str) -> bytes:
    """Add an ``annotations:`` block right after the workload's ``metadata.name`` line.

    Text insertion, as a person would type it: the rest of the file keeps its bytes. The
    examples have no top-level annotations yet; anything else means they were edited.
    """
    lines = content.decode().splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.rstrip("\n") == "metadata:" and index + 1 < len(lines):
            name_line = lines[index + 1]
            indent = name_line[: len(name_line) - len(name_line.lstrip())]
            if not indent or not name_line.lstrip().startswith("name:"):
                break
            block = [f"{indent}annotations:\n"]
            block += [f'{indent * 2}{key}: "{value}"\n' for key, value in added.items()]
            return "".join(lines[: index + 2] + block + lines[index + 2 :]).encode()
    raise ExamplesMissing(
        f"examples: {file}: expected 'metadata:' followed by its 'name:' line",
        hint="the files in imagebot/demo/examples/ must stay as upstream wrote them",
    )


def release_times(now: datetime | None = None) -> dict[tuple[str, str], datetime]:
    """A build time for every tag: existing ones weeks apart, new ones within the last hours."""
    now = now or datetime.now(UTC)
    times: dict[tuple[str, str], datetime] = {}
    for release in RELEASES:
        for age, tag in enumerate(reversed(release.existing), start=1):
            times[(release.repository, tag)] = now - timedelta(weeks=3 * age)
        for age, tag in enumerate(reversed(release.newer), start=1):
            times[(release.repository, tag)] = now - timedelta(hours=age)
    return times
