"""Discovery: which files are read, and where images are found in them."""

from __future__ import annotations

import os
from pathlib import Path

from imagebot.manifests import discover
from tests.manifests.helpers import by_container, only, write_tree

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
spec:
  template:
    spec:
      initContainers:
      - name: init
        image: busybox:1.36
      containers:
      - name: app
        image: ghcr.io/org/app:1.2.3
      - name: sidecar
        image: "envoyproxy/envoy:v1.29.1"
"""


def pod_kind(kind: str, image: str = "nginx:1.25.3") -> str:
    spec = f"""\
      containers:
      - name: main
        image: {image}
"""
    if kind == "Pod":
        body = "spec:\n" + "\n".join(line[4:] for line in spec.splitlines()) + "\n"
    elif kind == "CronJob":
        body = (
            "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n"
            + "\n".join("    " + line for line in spec.splitlines())
            + "\n"
        )
    else:
        body = "spec:\n  template:\n    spec:\n" + spec
    return f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: w\n{body}"


def test_deployment_yields_init_containers_and_containers(scan):
    found = scan({"web.yaml": DEPLOYMENT})
    sites = by_container(found)
    assert set(sites) == {"init", "app", "sidecar"}
    assert sites["init"].reference_text == "busybox:1.36"
    assert sites["app"].image.repository == "ghcr.io/org/app"
    assert sites["app"].tag == "1.2.3"
    assert sites["sidecar"].reference_text == "envoyproxy/envoy:v1.29.1"
    assert (sites["app"].kind, sites["app"].namespace, sites["app"].name) == (
        "Deployment",
        "prod",
        "web",
    )
    assert sites["app"].file == "web.yaml"
    assert sites["app"].line == 14
    assert found.errors == []
    assert found.skipped == []
    assert found.files_read == 1


def test_every_workload_kind_is_read_at_its_pod_spec(scan):
    kinds = ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]
    found = scan({f"{k.lower()}.yaml": pod_kind(k) for k in kinds})
    assert sorted(s.kind for s in found.sites) == sorted(kinds)
    assert all(s.reference_text == "nginx:1.25.3" for s in found.sites)


def test_objects_without_a_pod_template_are_not_workloads(scan):
    workflow = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: hello}
spec:
  templates:
  - name: main
    container: {image: "alpine:3.19"}
"""
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  image: a:1\n"
    not_a_pod = "apiVersion: x.io/v1\nkind: Thing\nmetadata: {name: t}\nspec:\n  template:\n"
    not_a_pod += "    spec: {containers: {image: a:1}}\n"
    found = scan({"wf.yaml": workflow, "cm.yaml": config_map, "thing.yaml": not_a_pod})
    assert found.sites == []
    assert found.errors == []


CUSTOM_KINDS = {
    "Rollout": ("argoproj.io/v1alpha1", "spec:\n  template:\n    spec:\n{c}"),
    "ReplicationController": ("v1", "spec:\n  template:\n    spec:\n{c}"),
    "ScaledJob": ("keda.sh/v1alpha1", "spec:\n  jobTargetRef:\n    template:\n      spec:\n{c}"),
    "JobSet": (
        "jobset.x-k8s.io/v1alpha2",
        "spec:\n  replicatedJobs:\n  - name: workers\n    template:\n      spec:\n"
        "        template:\n          spec:\n{c}",
    ),
}


def _containers(indent: int, name: str = "main", image: str = "nginx:1.25.3") -> str:
    pad = " " * indent
    return f"{pad}containers:\n{pad}- name: {name}\n{pad}  image: {image}\n"


def test_custom_workload_kinds_are_read_at_their_pod_spec(scan):
    files = {}
    for kind, (api, body) in CUSTOM_KINDS.items():
        indent = body.rsplit("\n", 2)[-2].find("spec") + 2
        text = f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: w\n"
        files[f"{kind.lower()}.yaml"] = text + body.format(c=_containers(indent))
    found = scan(files)
    assert sorted(s.kind for s in found.sites) == sorted(CUSTOM_KINDS)
    assert {(s.container, s.reference_text) for s in found.sites} == {("main", "nginx:1.25.3")}
    assert found.errors == []


RAY_CLUSTER = """\
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: raycluster
  annotations:
    imagebot.io/automated: "true"
    imagebot.io/tag.ray-worker: semver:~2.37
spec:
  headGroupSpec:
    template:
      spec:
        containers:
        - name: ray-head
          image: rayproject/ray:2.37.0
  workerGroupSpecs:
  - groupName: gpu
    template:
      spec:
        initContainers:
        - name: wait
          image: busybox:1.36
        containers:
        - name: ray-worker
          image: rayproject/ray:2.37.0-gpu
"""


def test_a_ray_cluster_yields_its_head_and_every_worker_group_with_the_annotations(scan):
    sites = by_container(scan({"ray.yaml": RAY_CLUSTER}))
    assert {c: s.reference_text for c, s in sites.items()} == {
        "ray-head": "rayproject/ray:2.37.0",
        "wait": "busybox:1.36",
        "ray-worker": "rayproject/ray:2.37.0-gpu",
    }
    assert sites["ray-worker"].policy == "semver:~2.37"
    assert sites["ray-head"].policy == "glob:*"
    assert all(
        s.automated and s.workload == "default:raycluster/raycluster" for s in sites.values()
    )


LWS = """\
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
metadata:
  name: vllm
  annotations:
    imagebot.io/tag.workerTemplate.vllm: semver:^0.8
spec:
  leaderWorkerTemplate:
    leaderTemplate:
      spec:
        containers:
        - name: vllm
          image: vllm/vllm-openai:v0.8.5
    workerTemplate:
      spec:
        containers:
        - name: vllm
          image: vllm/vllm-openai:v0.8.4
"""


def test_one_container_name_in_two_pod_specs_is_told_apart_by_the_pod_spec(scan):
    found = scan({"lws.yaml": LWS})
    sites = by_container(found)
    assert set(sites) == {"leaderTemplate.vllm", "workerTemplate.vllm"}
    assert sites["workerTemplate.vllm"].tag == "v0.8.4"
    assert sites["workerTemplate.vllm"].policy == "semver:^0.8"
    assert sites["leaderTemplate.vllm"].policy is None
    assert all(s.error is None for s in found.sites)


def test_a_pod_template_object_is_read_at_its_template(scan):
    text = "apiVersion: v1\nkind: PodTemplate\nmetadata: {name: t}\ntemplate:\n  spec:\n"
    text += _containers(4)
    site = only(scan({"t.yaml": text}))
    assert (site.kind, site.container, site.reference_text) == (
        "PodTemplate",
        "main",
        "nginx:1.25.3",
    )


def test_any_object_whose_spec_holds_a_pod_template_is_read_by_its_shape(scan):
    knative = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  annotations: {fluxcd.io/automated: "true"}
spec:
  template:
    spec:
      containers:
      - image: gcr.io/knative-samples/helloworld-go:1.2
"""
    site = only(scan({"ksvc.yaml": knative}))
    assert (site.kind, site.container, site.tag) == ("Service", "containers[0]", "1.2")
    assert site.automated
    assert site.source == "annotation:fluxcd.io"


def test_a_known_kind_of_another_api_group_is_read_by_shape_not_by_schema(scan):
    text = "apiVersion: other.io/v1\nkind: ScaledJob\nmetadata: {name: s}\nspec:\n"
    text += "  jobTargetRef:\n    template:\n      spec:\n" + _containers(8)
    text += "  other:\n    template:\n      spec:\n" + _containers(8, "x", "redis:7.2")
    found = scan({"s.yaml": text})
    assert [(s.container, s.reference_text) for s in found.sites] == [
        ("main", "nginx:1.25.3"),
        ("x", "redis:7.2"),
    ]
    keda = scan({"s.yaml": text.replace("other.io/v1", "keda.sh/v1alpha1")})
    assert [(s.container, s.reference_text) for s in keda.sites] == [("main", "nginx:1.25.3")]


def test_every_document_of_a_file_is_read(scan):
    text = "---\n" + pod_kind("Deployment", "a:1") + "---\n" + pod_kind("Job", "b:2") + "...\n"
    found = scan({"multi.yaml": text})
    assert [s.reference_text for s in found.sites] == ["a:1", "b:2"]
    assert [s.kind for s in found.sites] == ["Deployment", "Job"]


def test_items_of_a_list_are_read(scan):
    text = """\
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: one}
  spec:
    template:
      spec:
        containers: [{name: c, image: "redis:7.2"}]
"""
    site = only(scan({"list.yaml": text}))
    assert (site.kind, site.name, site.reference_text) == ("Deployment", "one", "redis:7.2")
    assert site.parts[0].path == ("items", 0, "spec", "template", "spec", "containers", 0, "image")


def test_container_without_image_is_not_a_site(scan):
    text = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: patch}
spec:
  template:
    spec:
      containers:
      - name: app
        resources: {limits: {cpu: 1}}
"""
    assert scan({"patch.yaml": text}).sites == []


def test_unparseable_image_is_a_site_with_an_error(scan):
    site = only(scan({"bad.yaml": pod_kind("Pod", "Not_A/Valid::ref")}))
    assert site.image is None
    assert site.error
    assert "invalid image reference" in site.error
    assert site.reference_text == "Not_A/Valid::ref"


def test_tag_and_digest_are_read(scan):
    digest = "sha256:" + "ab" * 32
    site = only(scan({"d.yaml": pod_kind("Pod", f"busybox:1.36@{digest}")}))
    assert (site.tag, site.digest) == ("1.36", digest)


def test_values_are_read_as_written(scan):
    site = only(scan({"d.yaml": pod_kind("Pod", "1.30")}))
    assert site.reference_text == "1.30"


def test_file_that_is_not_yaml_is_skipped_with_its_line_and_the_scan_goes_on(scan):
    template = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Values.name }}\n  x: [\n"
    found = scan({"a-template.yaml": template, "b.yaml": pod_kind("Pod")})
    assert len(found.sites) == 1
    assert [(i.file, i.line) for i in found.skipped] == [("a-template.yaml", 6)]
    assert found.errors == []
    assert not found.has_errors


def test_broken_yaml_without_templates_is_an_error(scan):
    found = scan({"broken.yaml": "a: [1, 2\nb: c\n", "ok.yaml": pod_kind("Pod")})
    assert [(i.file, i.line) for i in found.errors] == [("broken.yaml", 2)]
    assert "not valid YAML" in found.errors[0].message
    assert len(found.sites) == 1
    assert found.has_errors


def test_helm_chart_templates_are_skipped_even_when_they_parse(scan):
    found = scan(
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: chart\nversion: 1.0.0\n",
            "chart/values.yaml": "image:\n  repository: nginx\n  tag: 1.25.3\n",
            "chart/templates/deploy.yaml": "# header\n{{- if .Values.on }}\n"
            + pod_kind("Deployment", "x:1"),
        }
    )
    assert [(i.file, i.line) for i in found.skipped] == [("chart/templates/deploy.yaml", 2)]
    site = only(found)
    assert (site.file, site.kind, site.name, site.container) == (
        "chart/values.yaml",
        "HelmValues",
        "chart",
        "chart-image",
    )
    assert site.reference_text == "nginx:1.25.3"


def test_non_utf8_file_is_an_error(scan):
    found = scan({"latin1.yaml": "name: caf\xe9\n".encode("latin-1")})
    assert [(i.file, i.line, i.message) for i in found.errors] == [
        ("latin1.yaml", 1, "not UTF-8 text")
    ]


def test_trailing_tabs_do_not_make_a_file_unreadable(scan):
    text = pod_kind("Pod").replace("name: w\n", "name: w\t\n")
    assert only(scan({"tabs.yaml": text})).reference_text == "nginx:1.25.3"


def test_include_and_exclude_globs(scan):
    files = {
        "apps/a.yaml": pod_kind("Pod", "a:1"),
        "apps/deep/b.yml": pod_kind("Pod", "b:1"),
        "vendor/c.yaml": pod_kind("Pod", "c:1"),
        "top.yaml": pod_kind("Pod", "top:1"),
        "notes.txt": pod_kind("Pod", "txt:1"),
    }
    found = scan(files)
    assert sorted(s.reference_text for s in found.sites) == ["a:1", "b:1", "c:1", "top:1"]
    found = scan(files, exclude=["vendor/**"])
    assert sorted(s.reference_text for s in found.sites) == ["a:1", "b:1", "top:1"]
    found = scan(files, include=["apps/**/*.yaml"])
    assert sorted(s.reference_text for s in found.sites) == ["a:1"]
    found = scan(files, include=["**/*.yaml", "**/*.yml"], exclude=["**/deep", "top.yaml"])
    assert sorted(s.reference_text for s in found.sites) == ["a:1", "c:1"]


def test_symlinks_out_of_the_repository_are_never_followed(tmp_path):
    outside = write_tree(tmp_path / "outside", {"secret.yaml": pod_kind("Pod", "outside:1")})
    repo = write_tree(tmp_path / "repo", {"real.yaml": pod_kind("Pod", "inside:1")})
    os.symlink(outside / "secret.yaml", repo / "link.yaml")
    os.symlink(outside, repo / "linkdir")
    os.symlink(repo / "real.yaml", repo / "alias.yaml")
    found = discover(repo)
    assert [s.reference_text for s in found.sites] == ["inside:1"]
    skipped = {i.file: i.message for i in found.skipped}
    assert "outside the repository" in skipped["link.yaml"]
    assert "outside the repository" in skipped["linkdir"]
    assert "inside the repository" in skipped["alias.yaml"]


def test_git_directory_is_not_read(scan):
    found = scan({".git/config.yaml": pod_kind("Pod", "git:1"), "a.yaml": pod_kind("Pod")})
    assert [s.reference_text for s in found.sites] == ["nginx:1.25.3"]


def test_docker_compose_services(scan):
    text = "services:\n  web:\n    image: nginx:1.25.3\n  build-only:\n    build: .\n"
    site = only(scan({"docker-compose.yml": text}))
    assert (site.kind, site.name, site.container, site.reference_text) == (
        "ComposeService",
        "web",
        "web",
        "nginx:1.25.3",
    )


def test_files_read_counts_every_yaml_file(scan):
    found = scan({"a.yaml": "a: 1\n", "b.yml": "", "c.yaml": "# only a comment\n"})
    assert found.files_read == 3


def test_site_serialises_to_json(scan):
    import json

    site = by_container(scan({"web.yaml": DEPLOYMENT}))["app"]
    data = json.loads(json.dumps(site.to_dict()))
    assert data["image"] == "ghcr.io/org/app:1.2.3"
    assert data["repository"] == "ghcr.io/org/app"
    assert data["parts"][0]["role"] == "image"


def test_paths_are_posix_and_relative(tmp_path: Path):
    write_tree(tmp_path, {"a/b/c.yaml": pod_kind("Pod")})
    assert only(discover(tmp_path / "a" / ".." / "a")).file == "b/c.yaml"


def test_generate_name_stands_in_for_a_missing_name(scan):
    text = pod_kind("Job").replace("  name: w\n", "  generateName: migrate-\n")
    assert only(scan({"job.yaml": text})).name == "migrate-"
