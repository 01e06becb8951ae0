"""The namespace a workload lands in when its manifest does not say, as fluxctl named it.

``kubectl apply`` puts a namespaced object without ``metadata.namespace`` into the context's
namespace, and kustomize into its kustomization's ``namespace:``. fluxctl named workloads as
the cluster had them (``default:deployment/carts``); reading Git, imagebot names them the same:

1. ``metadata.namespace`` when the manifest has one;
2. else the ``namespace:`` of the kustomization that includes the file: listed in its
   ``resources:`` (or ``bases:``/``components:``), directly or through a directory's own
   kustomization. The outermost namespace wins, as kustomize applies it last. A file that
   different kustomizations put in different namespaces gets none of them;
3. else the repository's ``default_namespace`` (config), else ``default``.

Cluster-scoped kinds (``ClusterRole``, ``Namespace``, ...) and what is not a Kubernetes object
at all (a Docker Compose service, a chart's values file, a document without a kind) land in
no namespace: :data:`CLUSTER` (``<cluster>``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ruamel.yaml.nodes import Node

from imagebot.manifests import yamlsource as ys

#: The namespace part of a workload name for objects that have no namespace.
CLUSTER = "<cluster>"

#: Where a namespaced object without a namespace lands when nothing else says.
DEFAULT_NAMESPACE = "default"

#: Kubernetes kinds (and common CRDs') that exist once per cluster, not per namespace.
CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CSINode",
        "CertificateSigningRequest",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)

#: Image sites that are no Kubernetes object (see ``discovery``): they land nowhere.
NOT_OBJECTS = frozenset({"", "ComposeService", "HelmValues"})

#: File names kustomize reads as a directory's kustomization.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

_INCLUDES = ("resources", "bases", "components")


def landing_namespace(kind: str, namespace: str | None, default: str | None = None) -> str:
    """Where an object of *kind* written with *namespace* lands (:data:`CLUSTER`: nowhere)."""
    if namespace:
        return namespace
    if kind in CLUSTER_SCOPED or kind in NOT_OBJECTS:
        return CLUSTER
    return default or DEFAULT_NAMESPACE


@dataclass(frozen=True)
class Kustomization:
    """What a kustomization says about namespaces: its own, and the paths it includes."""

    namespace: str | None
    includes: tuple[str, ...]  # as written, relative to its directory; remote ones left out


def is_kustomization_file(rel: str) -> bool:
    return rel.rpartition("/")[2] in KUSTOMIZATION_FILES


def read_kustomization(data: bytes) -> Kustomization | None:
    """The kustomization in *data*; None when it is none (or not YAML: discovery reports
    that). Discovery calls it once per file and blob, beside the file's sites (or, when it
    composed the file for them, :func:`kustomization_in` over those documents)."""
    try:
        source = ys.load(data)
    except ys.YamlSyntaxError:
        return None
    return kustomization_in(source.docs)


def kustomization_in(docs: Sequence[Node]) -> Kustomization | None:
    """The kustomization among a kustomization file's composed *docs*; None when none is."""
    for node in docs:
        kind = ys.get_str(node, "kind")
        if kind not in (None, "Kustomization", "Component"):
            continue
        entries = []
        for key in _INCLUDES:
            for item in ys.seq(ys.get(node, key)):
                text = ys.scalar_text(item) if item is not None else None
                if text and "://" not in text and not text.startswith(("github.com/", "git@")):
                    entries.append(text)
        return Kustomization(ys.get_str(node, "namespace"), tuple(entries))
    return None


def kustomize_namespaces(
    kustomizations: Mapping[str, Kustomization], files: Iterable[str]
) -> dict[str, str]:
    """``{file: namespace}`` for the *files* (relative, posix) that the *kustomizations*
    (by file) put in exactly one namespace; kustomization files are included, since their
    ``images:`` apply to what they include. Only kustomizations no other one includes are
    starting points: a base is applied through its overlays."""
    known = set(files) | set(kustomizations)
    by_dir: dict[str, str] = {}
    for rel in sorted(kustomizations):
        by_dir.setdefault(posixpath.dirname(rel), rel)
    manifests: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    for rel, k in kustomizations.items():
        folder = posixpath.dirname(rel)
        manifests[rel], children[rel] = [], []
        for entry in k.includes:
            target = posixpath.normpath(posixpath.join(folder, entry))
            if target in kustomizations:
                children[rel].append(target)
            elif target in by_dir:
                children[rel].append(by_dir[target])
            elif target in known:
                manifests[rel].append(target)
    included = {child for listed in children.values() for child in listed}
    seen: dict[str, set[str | None]] = {}

    def cover(file: str, outer: str | None, path: frozenset[str]) -> None:
        if file in path:
            return  # a cycle: kustomize refuses it, and so does this walk
        namespace = outer or kustomizations[file].namespace
        for covered in (file, *manifests[file]):
            seen.setdefault(covered, set()).add(namespace)
        for child in children[file]:
            cover(child, namespace, path | {file})

    for top in sorted(set(kustomizations) - included):
        cover(top, None, frozenset())
    out: dict[str, str] = {}
    for file, spaces in seen.items():
        (only,) = spaces if len(spaces) == 1 else (None,)
        if only is not None:
            out[file] = only
    return out
