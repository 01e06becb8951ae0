"""Where an object keeps its pod specs: the known kinds by their schema, any other by shape.

A Deployment keeps one pod spec at ``spec.template.spec``; a ``RayCluster`` keeps one for its
head and one per worker group; a ``JobSet`` one per replicated job, two templates deep::

    Deployment       spec.template.spec
    CronJob          spec.jobTemplate.spec.template.spec
    JobSet           spec.replicatedJobs[*].template.spec.template.spec
    LeaderWorkerSet  spec.leaderWorkerTemplate.{leaderTemplate,workerTemplate}.spec
    RayCluster       spec.headGroupSpec.template.spec, spec.workerGroupSpecs[*].template.spec

An object of any other kind whose ``spec`` holds a pod template (a ``template`` mapping whose
``spec.containers`` is a list: Knative Services, operators' custom resources) is read the
same way (:func:`pod_specs` finds them, bounded in depth and in count). Kinds known by
their schema are matched with their API group, so a ``Rollout`` of another group is read by
shape, not by Argo Rollouts' schema.

Each pod spec found is a :class:`PodSpec`: its path and a label naming it within the object
(``workerTemplate``, a worker group's ``groupName``, a replicated job's ``name``), used to
tell apart two containers of the same name in different pod specs of one object.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from imagebot.manifests import yamlsource as ys

#: ``"*"``: every item of a list.
_Pattern = tuple[str, ...]
_TEMPLATE: _Pattern = ("spec", "template", "spec")
_RAY_HEAD: _Pattern = ("headGroupSpec", "template", "spec")
_RAY_WORKERS: _Pattern = ("workerGroupSpecs", "*", "template", "spec")

#: Built-in kinds: matched by kind alone (any API version).
BUILTIN: dict[str, tuple[_Pattern, ...]] = {
    "Pod": (("spec",),),
    "Deployment": (_TEMPLATE,),
    "StatefulSet": (_TEMPLATE,),
    "DaemonSet": (_TEMPLATE,),
    "ReplicaSet": (_TEMPLATE,),
    "ReplicationController": (_TEMPLATE,),
    "Job": (_TEMPLATE,),
    "CronJob": (("spec", "jobTemplate", "spec", "template", "spec"),),
    "PodTemplate": (("template", "spec"),),
}

#: Custom resources known by their schema: (API group, kind) -> pod spec patterns.
CUSTOM: dict[tuple[str, str], tuple[_Pattern, ...]] = {
    ("argoproj.io", "Rollout"): (_TEMPLATE,),
    ("keda.sh", "ScaledJob"): (("spec", "jobTargetRef", "template", "spec"),),
    ("jobset.x-k8s.io", "JobSet"): (
        ("spec", "replicatedJobs", "*", "template", "spec", "template", "spec"),
    ),
    ("leaderworkerset.x-k8s.io", "LeaderWorkerSet"): (
        ("spec", "leaderWorkerTemplate", "leaderTemplate", "spec"),
        ("spec", "leaderWorkerTemplate", "workerTemplate", "spec"),
    ),
    ("ray.io", "RayCluster"): (("spec", *_RAY_HEAD), ("spec", *_RAY_WORKERS)),
    ("ray.io", "RayJob"): (
        ("spec", "rayClusterSpec", *_RAY_HEAD),
        ("spec", "rayClusterSpec", *_RAY_WORKERS),
        ("spec", "submitterPodTemplate", "spec"),
    ),
    ("ray.io", "RayService"): (
        ("spec", "rayClusterConfig", *_RAY_HEAD),
        ("spec", "rayClusterConfig", *_RAY_WORKERS),
    ),
}

#: Kinds read elsewhere, or whose ``template``s are not pod templates: never read by shape.
NOT_BY_SHAPE = frozenset(
    {
        "HelmRelease",
        "FluxHelmRelease",
        "Kustomization",
        "Component",
        "List",
        "CustomResourceDefinition",
    }
)
#: How deep under ``spec`` a pod template is looked for, and how many are taken per object.
MAX_SHAPE_DEPTH = 12
MAX_POD_SPECS = 64
#: Fields that name an item of a list of pod templates (a worker group, a replicated job).
_ITEM_NAMES = ("name", "groupName")
#: Path keys that say nothing about which pod spec this is.
_PLAIN_KEYS = frozenset({"spec", "template", "jobTemplate", "jobTargetRef"})


@dataclass(frozen=True)
class PodSpec:
    path: ys.Path
    label: str  # "" for an object's only pod spec


def schema_for(kind: str, api: str) -> tuple[_Pattern, ...] | None:
    """The pod spec patterns of a kind known by its schema, else None."""
    if kind in BUILTIN:
        return BUILTIN[kind]
    group = api.rpartition("/")[0]
    return CUSTOM.get((group, kind))


def pod_specs(node: Node, kind: str, api: str) -> list[PodSpec]:
    """Every pod spec of the object *node*: by its kind's schema, else by shape."""
    patterns = schema_for(kind, api)
    if patterns is not None:
        paths = [p for pattern in patterns for p in _expand(node, pattern)]
    elif not kind or kind in NOT_BY_SHAPE or kind.endswith("List"):
        return []
    else:
        paths = list(islice(_by_shape(ys.get(node, "spec"), ("spec",), 0), MAX_POD_SPECS))
    labelled = len(paths) > 1
    return [PodSpec(p, _label(node, p) if labelled else "") for p in paths]


def _expand(node: Node | None, pattern: _Pattern, prefix: ys.Path = ()) -> Iterator[ys.Path]:
    for i, key in enumerate(pattern):
        if key == "*":
            items = ys.seq(node)
            for j, item in enumerate(items[:MAX_POD_SPECS]):
                yield from _expand(item, pattern[i + 1 :], (*prefix, j))
            return
        node = ys.get(node, key)
        if node is None:
            return
        prefix = (*prefix, key)
    if isinstance(node, MappingNode):
        yield prefix


def _by_shape(node: Node | None, path: ys.Path, depth: int) -> Iterator[ys.Path]:
    """Paths of ``template.spec`` mappings whose ``containers`` is a list, outermost only."""
    if depth > MAX_SHAPE_DEPTH:
        return
    if isinstance(node, MappingNode):
        for key, _, value in ys.items(node):
            if key == "template" and isinstance(value, MappingNode):
                spec = ys.get(value, "spec")
                if isinstance(ys.get(spec, "containers"), SequenceNode):
                    yield (*path, key, "spec")
                    continue
            yield from _by_shape(value, (*path, key), depth + 1)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            yield from _by_shape(item, (*path, i), depth + 1)


def _label(node: Node, path: ys.Path) -> str:
    """A short name for the pod spec at *path*: the last telling key, or the name of the
    list item it is in (``workerTemplate``, ``small-group``, ``workerGroupSpecs-1``)."""
    word = "spec"
    last_key = ""
    here: Node | None = node
    for key in path:
        here = ys.get_path(here, (key,))
        if isinstance(key, int):
            named = next((n for f in _ITEM_NAMES if (n := ys.get_str(here, f))), None)
            word = named or f"{last_key}-{key}"
        elif key not in _PLAIN_KEYS:
            word = last_key = key
    return word


__all__ = ["BUILTIN", "CUSTOM", "PodSpec", "pod_specs", "schema_for"]
