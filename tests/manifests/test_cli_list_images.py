"""``imagebot list-images``: rows on stdout, logs on stderr, exit 0 / 1 / 2."""

from __future__ import annotations

import json

from click.testing import CliRunner

from imagebot.cli import cli
from tests.manifests.helpers import CORPUS, write_tree

GET_STARTED = CORPUS / "fluxcd__flux-get-started"


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["list-images", *args], env=env or {"IMAGEBOT_CONFIG": ""})


def test_json_rows_have_the_documented_keys():
    result = run("--repo", str(GET_STARTED), "--output", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    keys = {
        "file",
        "kind",
        "namespace",
        "name",
        "container",
        "image",
        "tag",
        "policy",
        "automated",
        "locked",
        "error",
    }
    assert all(keys <= set(row) for row in rows)
    redis = next(r for r in rows if r["name"] == "redis")
    assert {k: redis[k] for k in keys} == {
        "file": "releases/redis.yaml",
        "kind": "HelmRelease",
        "namespace": "demo",
        "name": "redis",
        "container": "chart-image",
        "image": "bitnami/redis:5.0.7",
        "tag": "5.0.7",
        "policy": "semver:~5.0",
        "automated": True,
        "locked": True,
        "error": None,
    }


def test_text_table_has_a_row_per_image_and_logs_go_to_stderr():
    result = run("--repo", str(GET_STARTED), "--wide")  # values whole at any $COLUMNS
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "FILE",
        "WORKLOAD",
        "CONTAINER",
        "IMAGE",
        "TAG",
        "POLICY",
        "AUTOMATED",
        "LOCKED",
    ]
    assert len(lines) == 1 + 7
    podinfod = next(line for line in lines if "podinfod" in line)
    assert podinfod.split()[:7] == [
        "workloads/podinfo-dep.yaml:37",
        "demo:deployment/podinfo",
        "podinfod",
        "stefanprodan/podinfo",
        "3.1.0",
        "semver:~3.1",
        "yes",
    ]
    assert "\x1b[" not in result.stdout  # no colour when not on a terminal
    assert "skipped charts/ghost/templates/deployment.yaml:1" in result.stderr
    assert "skipped" not in result.stdout


def test_errors_exit_1_and_rows_are_still_printed(tmp_path):
    write_tree(
        tmp_path,
        {
            "bad.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
            "    fluxcd.io/tag.main: semver:>=banana\nspec:\n  containers:\n"
            "  - {name: main, image: nginx:1.25.3}\n",
            "broken.yaml": "a: [\n",
        },
    )
    result = run("--repo", str(tmp_path), "-o", "json")
    assert result.exit_code == 1
    (row,) = json.loads(result.stdout)
    assert row["image"] == "nginx:1.25.3"
    assert "invalid semver constraint" in row["error"]
    assert "broken.yaml:2: not valid YAML" in result.stderr
    table = run("--repo", str(tmp_path))
    assert table.exit_code == 1
    assert "ERROR" in table.stdout.splitlines()[0]


def test_skipped_templates_alone_are_not_errors(tmp_path):
    write_tree(tmp_path, {"t.yaml": "kind: {{ .Values.kind }}\nx: [\n"})
    result = run("--repo", str(tmp_path))
    assert result.exit_code == 0
    assert result.stdout.strip() == "no container images found"
    assert "skipped t.yaml" in result.stderr


def test_missing_repo_is_a_usage_error(tmp_path):
    result = run("--repo", str(tmp_path / "nope"))
    assert result.exit_code == 2


def test_bad_config_is_a_usage_error(tmp_path):
    config = write_tree(tmp_path, {"c.yaml": "repositories:\n- path: .\n  incldue: []\n"})
    result = run("--repo", str(tmp_path), "--config", str(config / "c.yaml"))
    assert result.exit_code == 2
    assert "incldue" in result.stderr


def test_config_include_exclude_and_policy_dirs_apply(tmp_path):
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  containers:\n"
        '  - name: c\n    image: %s # {"$imagepolicy": "ns:p"}\n'
    )
    repo = write_tree(
        tmp_path / "repo",
        {
            "apps/a.yaml": pod % ("a", "nginx:1.25.3"),
            "vendor/b.yaml": pod % ("b", "redis:7.2.3"),
            "rules/p.yaml": "apiVersion: imagebot.io/v1\nkind: ImagePolicy\nmetadata: {name: p}\n"
            "spec: {policy: 'semver:~1.25'}\n",
        },
    )
    config = tmp_path / "imagebot.yaml"
    config.write_text(
        f"repositories:\n- path: {repo}\n  exclude: ['vendor/**']\n  policy_dirs: [rules]\n"
    )
    result = run("--config", str(config), "-o", "json")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert (row["file"], row["policy"], row["automated"]) == ("apps/a.yaml", "semver:~1.25", True)


def test_a_marker_naming_no_policy_is_a_warning_on_stderr_and_exits_0(tmp_path):
    config_map = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n"
        '  image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "apps:missing"}\n'
    )
    root = write_tree(tmp_path, {"cfg.yaml": config_map})

    result = run("--repo", str(root), "--output", "json")

    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert (row["error"], row["warning"].startswith("marker names image policy apps:missing")) == (
        None,
        True,
    )
    assert "cfg.yaml:6: marker names image policy apps:missing" in result.stderr
