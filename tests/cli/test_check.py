"""``imagebot check``: offline validation with ``file:line: message`` errors, for CI."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import httpx
import pytest

from tests.cli.ux_support import invoke, run, write_tree
from tests.manifests.helpers import CORPUS

CLEAN_CORPUS = [
    "argoproj__argocd-example-apps",
    "bricef__gitops-tutorial",
    "fluxcd__flux-get-started",
    "fluxcd__flux2-kustomize-helm-example",
    "microservices-demo__microservices-demo",
    "stefanprodan__podinfo",
]

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
  annotations:
    fluxcd.io/automated: "true"
    fluxcd.io/tag.web: {policy}
spec:
  template:
    spec:
      containers:
        - name: web
          image: {image}
        - name: side
          image: busybox:1.36
"""


def check(root: Path, tmp_path: Path, *args: str):
    """``imagebot check`` run at the top of the checkout, as a CI job runs it."""
    with contextlib.chdir(root if root.is_dir() else tmp_path):
        return invoke("check", "--repo", str(root), *args, state=tmp_path / "state")


def lines(result) -> list[str]:
    return result.stdout.splitlines()


@pytest.mark.parametrize("name", CLEAN_CORPUS)
def test_real_world_repositories_pass_clean(name: str, tmp_path: Path):
    result = check(CORPUS / name, tmp_path)

    assert (result.exit_code, result.stdout) == (0, ""), result.stdout
    assert result.stderr.endswith(": no errors\n")


def test_the_unrendered_registry_placeholder_of_online_boutique_is_reported(tmp_path: Path):
    result = check(CORPUS / "GoogleCloudPlatform__microservices-demo", tmp_path, "-o", "json")

    assert result.exit_code == 1
    errors = json.loads(result.stdout)["errors"]
    file = "kustomize/components/container-images-registry/kustomization.yaml"
    assert {e["file"] for e in errors} == {file}
    assert [e["line"] for e in errors] == list(range(19, 42, 2))
    assert all("'CONTAINER_IMAGES_REGISTRY/" in e["message"] for e in errors)


def test_a_bad_policy_string_is_reported_on_its_annotation_line(tmp_path: Path):
    root = write_tree(
        tmp_path / "r", {"web.yaml": WORKLOAD.format(policy="semver:>>1", image="nginx:1.25")}
    )

    result = check(root, tmp_path)

    assert result.exit_code == 1
    (error,) = lines(result)
    assert error.startswith(
        "web.yaml:8: container web: policy 'semver:>>1': invalid semver constraint"
    )


def test_a_workload_error_is_reported_once_however_many_containers(tmp_path: Path):
    manifest = WORKLOAD.format(policy="semver:~1", image="nginx:1.25").replace(
        '    fluxcd.io/automated: "true"\n',
        '    fluxcd.io/automated: "true"\n    imagebot.io/lcoked: "true"\n',
    )
    root = write_tree(tmp_path / "r", {"web.yaml": manifest})

    result = check(root, tmp_path)

    assert lines(result) == [
        "web.yaml:8: unknown annotation imagebot.io/lcoked (did you mean imagebot.io/locked?)"
    ]


def test_a_bad_regex_in_a_filter_annotation_is_reported_on_its_line(tmp_path: Path):
    manifest = WORKLOAD.format(policy="semver:~1", image="nginx:1.25").replace(
        "    fluxcd.io/tag.web: semver:~1\n",
        "    fluxcd.io/tag.web: semver:~1\n    filter.fluxcd.io/side: 'regex:^(unclosed'\n",
    )
    root = write_tree(tmp_path / "r", {"web.yaml": manifest})

    result = check(root, tmp_path)

    (error,) = lines(result)
    assert error.startswith(
        "web.yaml:9: container side: policy 'regex:^(unclosed': invalid policy regex"
    )


MISSING_POLICY_MARKER = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n"
    '  image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "apps:missing"}\n'
)


def test_a_marker_naming_a_missing_policy_is_a_warning_on_the_marker_line(tmp_path: Path):
    root = write_tree(tmp_path / "r", {"cfg.yaml": MISSING_POLICY_MARKER})

    result = check(root, tmp_path)

    assert result.exit_code == 0
    (warning,) = lines(result)
    assert warning.startswith(
        "cfg.yaml:6: warning: marker names image policy apps:missing, which is not defined"
    )
    assert result.stderr.endswith(": no errors, 1 warning(s)\n")


def test_strict_makes_a_marker_naming_a_missing_policy_fail(tmp_path: Path):
    root = write_tree(tmp_path / "r", {"cfg.yaml": MISSING_POLICY_MARKER})

    result = check(root, tmp_path, "--strict", "--output", "json")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["ok"], report["errors"]) == (False, [])
    assert [(w["path"], w["line"], w["kind"]) for w in report["warnings"]] == [
        ("cfg.yaml", 6, "marker")
    ]


def test_a_malformed_marker_is_reported(tmp_path: Path):
    root = write_tree(
        tmp_path / "r", {"cfg.yaml": 'image: app:1.0 # {"$imagepolicy": "nonamespace"}\n'}
    )

    result = check(root, tmp_path)

    (error,) = lines(result)
    assert error.startswith("cfg.yaml:1: image policy marker 'nonamespace': expected")


def test_an_unknown_policy_file_key_is_reported_with_a_suggestion(tmp_path: Path):
    policy = (
        "apiVersion: imagebot.io/v1\nkind: ImagePolicy\nmetadata:\n  name: app\n"
        "spec:\n  policy: semver:~1.0\n  filtr: '^x'\n"
    )
    root = write_tree(tmp_path / "r", {"policies/app.yaml": policy})

    result = check(root, tmp_path)

    assert lines(result) == [
        "policies/app.yaml:7: spec.filtr: unknown key (did you mean 'filter'?)"
    ]


def test_an_invalid_image_reference_is_reported_on_the_image_line(tmp_path: Path):
    root = write_tree(
        tmp_path / "r",
        {"web.yaml": WORKLOAD.format(policy="semver:~1", image="Example.com/UPPER/app:1.0")},
    )

    result = check(root, tmp_path)

    assert lines(result) == [
        "web.yaml:14: invalid image reference 'Example.com/UPPER/app:1.0': repository name must "
        "be lowercase"
    ]


def test_a_file_that_is_not_yaml_is_reported_with_its_line(tmp_path: Path):
    root = write_tree(tmp_path / "r", {"broken.yaml": "a: 1\nb: [\n"})

    result = check(root, tmp_path)

    (error,) = lines(result)
    assert error.startswith("broken.yaml:3: not valid YAML")


def test_helm_templates_are_skipped_not_errors_and_listed_with_verbose(tmp_path: Path):
    files = {
        "chart/Chart.yaml": "name: c\nversion: 1.0.0\n",
        "chart/templates/d.yaml": "image: {{ .Values.image }}\n",
    }
    root = write_tree(tmp_path / "r", files)

    quiet = check(root, tmp_path)
    verbose = check(root, tmp_path, "-v")

    assert (quiet.exit_code, quiet.stdout) == (0, "")
    assert "skipped chart/templates/d.yaml" not in quiet.stderr
    assert "skipped chart/templates/d.yaml:1: Helm chart template" in verbose.stderr
    assert verbose.exit_code == 0


def test_a_bad_config_file_is_reported_with_its_line(tmp_path: Path):
    root = write_tree(
        tmp_path / "r", {"web.yaml": WORKLOAD.format(policy="semver:~1", image="nginx:1.25")}
    )
    config = write_tree(
        tmp_path, {"imagebot.yaml": "tag_cache_ttl: 1m\nregistries:\n  ghcr.io:\n    retires: 3\n"}
    )

    result = check(root, tmp_path, "--config", str(config / "imagebot.yaml"))

    assert result.exit_code == 1
    (error,) = lines(result)
    assert error.startswith(
        f"{config / 'imagebot.yaml'}:4: registries.ghcr.io.retires: unknown key"
    )


def test_json_lists_errors_and_skipped_files(tmp_path: Path):
    files = {
        "web.yaml": WORKLOAD.format(policy="semver:>>1", image="nginx:1.25"),
        "chart/Chart.yaml": "name: c\n",
        "chart/templates/d.yaml": "image: {{ .Values.image }}\n",
    }
    root = write_tree(tmp_path / "r", files)

    result = check(root, tmp_path, "--output", "json")

    data = json.loads(result.stdout)
    assert data["ok"] is False
    (error,) = data["errors"]
    assert {k: error[k] for k in ("file", "line", "kind", "workload")} == {
        "file": "web.yaml",
        "line": 8,
        "kind": "annotation",
        "workload": "apps:deployment/web",
    }
    assert [s["path"] for s in data["skipped"]] == ["chart/templates/d.yaml"]
    assert data["images"] == 2


def test_paths_are_relative_to_the_current_directory(tmp_path: Path):
    root = write_tree(
        tmp_path / "r",
        {"deploy/web.yaml": WORKLOAD.format(policy="semver:>>1", image="nginx:1.25")},
    )

    result = run("check", "--repo", "r/deploy", state=tmp_path / "state", cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout.startswith("r/deploy/web.yaml:8: ")
    assert root.is_dir()


def test_check_never_asks_a_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    async def no_network(*args, **kwargs):
        raise AssertionError("imagebot check sent an HTTP request")

    monkeypatch.setattr(httpx.AsyncClient, "send", no_network)
    root = write_tree(
        tmp_path / "r",
        {"web.yaml": WORKLOAD.format(policy="semver:~1", image="127.0.0.1:9/a/b:1.0")},
    )

    result = check(root, tmp_path)

    assert result.exit_code == 0


def test_a_missing_directory_or_config_is_a_usage_error(tmp_path: Path):
    missing_repo = check(tmp_path / "nope", tmp_path)
    missing_config = check(tmp_path, tmp_path, "--config", str(tmp_path / "nope.yaml"))

    assert missing_repo.exit_code == missing_config.exit_code == 2
    assert "imagebot: error: " in missing_repo.stderr
    assert "no such config file" in missing_config.stderr


AUTOMATION = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: {interval}
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        name: fluxcdbot
        email: fluxcdbot@users.noreply.github.com
    push:
      refspec: {refspec}
  update:
    path: ./apps
"""


def test_check_says_which_settings_a_flux_image_update_automation_gives(tmp_path: Path):
    root = write_tree(
        tmp_path / "repo",
        {
            "flux/automation.yaml": AUTOMATION.format(
                interval="5m", refspec="HEAD:refs/heads/image-updates"
            )
        },
    )

    result = check(root, tmp_path)

    assert result.exit_code == 0
    where = "ImageUpdateAutomation flux-system/apps (flux/automation.yaml:1)"
    assert lines(result) == [
        f"flux: commit author: fluxcdbot <fluxcdbot@users.noreply.github.com> (from {where})",
        f"flux: commit message: 'Update from image update automation' (from {where})",
        f"flux: write mode: branch image-updates (from {where})",
        f"flux: branch: main (not applied, from {where}; a local checkout)",
        f"flux: interval: 300s (from {where})",
        f"flux: push refspec: HEAD:refs/heads/image-updates (from {where})",
    ]


def test_a_flux_push_refspec_imagebot_cannot_follow_is_an_error_naming_its_line(
    tmp_path: Path,
):
    gerrit = AUTOMATION.format(interval="5m", refspec="HEAD:refs/for/main")
    root = write_tree(tmp_path / "repo", {"flux/automation.yaml": gerrit})

    result = check(root, tmp_path)

    assert result.exit_code == 1
    assert lines(result)[0] == (
        "flux/automation.yaml:17: spec.git.push.refspec: 'HEAD:refs/for/main' pushes to "
        "refs/for/main, which is not a branch (refs/heads/...); imagebot pushes only to a branch"
    )
    where = "ImageUpdateAutomation flux-system/apps (flux/automation.yaml:1)"
    assert (
        "flux: write mode: branch imagebot/{branch} (imagebot's own: the refspec is not "
        f"supported) (from {where})"
    ) in lines(result)


def test_an_image_update_automation_imagebot_cannot_read_is_an_error_on_its_line(
    tmp_path: Path,
):
    root = write_tree(
        tmp_path / "repo",
        {
            "flux/automation.yaml": AUTOMATION.format(
                interval="soon", refspec="HEAD:refs/heads/image-updates"
            )
        },
    )

    result = check(root, tmp_path)

    assert result.exit_code == 1
    assert lines(result)[0] == (
        "flux/automation.yaml:7: spec.interval: 'soon' is not a Go duration (such as 30s, 5m "
        "or 1h30m)"
    )


def test_keel_problems_are_reported_on_the_label_or_annotation_they_come_from(tmp_path: Path):
    keel = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: wd
  labels:
    keel.sh/policy: minro
  annotations:
    keel.sh/pollSchedule: "*/5 * * * *"
spec:
  template:
    spec:
      containers:
        - name: wd
          image: keelhq/push-workflow-example:0.1.2
"""
    root = write_tree(tmp_path / "repo", {"wd.yaml": keel})

    result = check(root, tmp_path)

    assert result.exit_code == 1
    assert [line.split(": ", 2)[:2] for line in lines(result)] == [
        ["wd.yaml:6", "label keel.sh/policy"],
        ["wd.yaml:8", "annotation keel.sh/pollSchedule"],
    ]


def test_a_flux_message_template_imagebot_cannot_run_is_an_error_naming_its_line(
    tmp_path: Path,
):
    text = AUTOMATION.format(interval="5m", refspec="HEAD:refs/heads/image-updates").replace(
        "      author:", '      messageTemplate: "{{ range .Changed.Changes }}"\n      author:'
    )
    root = write_tree(tmp_path / "repo", {"flux/automation.yaml": text})

    result = check(root, tmp_path)

    assert result.exit_code == 1
    assert lines(result)[0] == (
        "flux/automation.yaml:13: spec.git.commit.messageTemplate: line 1: {{ range }} never ends"
    )
