"""The Renovate comparison skips cleanly without npm and reads Renovate's report (no npm, no
Node and no network here: ``./dev bench`` runs the comparison)."""

from __future__ import annotations

from bench import __main__ as bench_main
from bench import renovate as renovate_bench


def test_without_npm_the_renovate_benchmark_gives_one_row_saying_why(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on it

    rows = renovate_bench.rows(["--tools", str(tmp_path / "tools")])
    assert bench_main.main(["renovate", "--quick", "--tools", str(tmp_path / "tools")]) == 0

    [row] = rows
    assert (row.imagebot, row.floor, row.ratio, row.within_target) == (None, None, None, None)
    assert row.note == "not run: npm is not installed (Renovate installs from npm)"
    out = capsys.readouterr().out
    assert "| vs Renovate | 1,000 files, 100 images | - | - | wall s | - |" in out
    assert not (tmp_path / "tools").exists()


def test_renovate_proposals_are_counted_by_new_tag_for_images_only():
    image = {"datasource": "docker", "updates": [{"newValue": "1.0.1"}]}
    api = {"datasource": "kubernetes-api", "updates": [{"newValue": "apps/v2"}]}
    current = {"datasource": "docker", "updates": []}
    report = {
        "problems": [],
        "repositories": {
            "local": {
                "problems": [],
                "packageFiles": {
                    "kubernetes": [{"deps": [image, api]}, {"deps": [image, current]}]
                },
            }
        },
    }

    assert renovate_bench.proposed(report) == {"1.0.1": 2}


def test_the_renovate_config_reads_the_loopback_registry_over_http_with_the_same_policy():
    config = renovate_bench.renovate_config("127.0.0.1:5000")

    [rule] = config["hostRules"]
    assert (rule["matchHost"], rule["insecureRegistry"]) == ("127.0.0.1", True)
    assert {"matchDatasources": ["docker"], "allowedVersions": "~1.0"} in config["packageRules"]
    assert config["onboarding"] is False
