"""`imagebot tags` against the real registries."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from imagebot.cli import cli
from tests.harness import READER_PASSWORD, READER_USER
from tests.harness.proxies import LoopbackProxy

BUILT = datetime(2024, 6, 7, 8, 9, 10, tzinfo=UTC)


@pytest.fixture
def invoke(tmp_path, monkeypatch):
    """Run the CLI with a config file holding *registries*, state under tmp_path."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker"))
    monkeypatch.delenv("IMAGEBOT_CONFIG", raising=False)

    def run(*args: str, registries: dict | None = None):
        config = tmp_path / "imagebot.yaml"
        data = {"state_dir": str(tmp_path / "state"), "registries": registries or {}}
        config.write_text(json.dumps(data))
        return CliRunner().invoke(cli, ["tags", *args, "--config", str(config)])

    return run


def test_prints_every_tag_one_a_line(registry, invoke):
    registry.push("t/cli-text", ["1.0", "1.1", "latest"])
    result = invoke(f"{registry.host}/t/cli-text")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["1.0", "1.1", "latest"]


def test_json_output_is_a_list(registry, invoke):
    registry.push("t/cli-json", ["2.0", "2.1"])
    result = invoke(f"{registry.host}/t/cli-json:2.0", "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == ["2.0", "2.1"]


def test_details_add_digest_platforms_and_build_time(registry, invoke):
    single = registry.push("t/cli-details", ["1.0"], created=BUILT)
    multi = registry.push(
        "t/cli-details", ["2.0"], created=BUILT, platforms=["linux/amd64", "linux/arm64"]
    )
    result = invoke(f"{registry.host}/t/cli-details", "--all-details", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "tag": "1.0",
            "digest": single.digest,
            "media_type": single.media_type,
            "platforms": ["linux/amd64"],
            "created": BUILT.isoformat(),
        },
        {
            "tag": "2.0",
            "digest": multi.digest,
            "media_type": multi.media_type,
            "platforms": ["linux/amd64", "linux/arm64"],
            "created": BUILT.isoformat(),
        },
    ]


def test_details_as_text(registry, invoke):
    pushed = registry.push("t/cli-details-text", ["1.0"], created=BUILT)
    result = invoke(f"{registry.host}/t/cli-details-text", "--details")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["1.0", pushed.digest, BUILT.isoformat(), "linux/amd64"]


MANY = [f"1.{minor}.0" for minor in range(13)] + ["latest"]  # 14 tags, 1.12.0 the newest


def manifests_asked(proxy: LoopbackProxy) -> set[str]:
    return {seen.path.rsplit("/", 1)[1] for seen in proxy.requests_to(r"/manifests/[^s]")}


def test_details_read_only_the_first_page_of_the_newest_tags(registry, invoke):
    registry.push("t/cli-page", MANY, created=BUILT)
    with LoopbackProxy(registry.host) as proxy:
        result = invoke(f"{proxy.host}/t/cli-page", "--details", "-o", "json")

    assert result.exit_code == 0, result.output
    newest = ["latest"] + [f"1.{minor}.0" for minor in range(12, 3, -1)]
    assert [row["tag"] for row in json.loads(result.stdout)] == newest
    assert manifests_asked(proxy) == set(newest)
    assert "details of the 10 newest of 14 tags" in result.stderr
    assert "--all-details" in result.stderr


def test_all_details_read_every_tag_in_the_registrys_order(registry, invoke):
    registry.push("t/cli-all", MANY, created=BUILT)
    with LoopbackProxy(registry.host) as proxy:
        result = invoke(f"{proxy.host}/t/cli-all", "--all-details", "-o", "json")

    assert result.exit_code == 0, result.output
    assert [row["tag"] for row in json.loads(result.stdout)] == sorted(MANY)
    assert manifests_asked(proxy) == set(MANY)
    assert "newest" not in result.stderr


def test_details_of_a_short_list_need_no_note(registry, invoke):
    registry.push("t/cli-short", ["1.0", "2.0"], created=BUILT)
    result = invoke(f"{registry.host}/t/cli-short", "--details")

    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["2.0", "1.0"]
    assert result.stderr == ""


def test_credentials_from_the_config_file(basic_registry, invoke):
    basic_registry.push("t/cli-auth", ["1"])
    entry = {"username": READER_USER, "password": READER_PASSWORD}
    result = invoke(f"{basic_registry.host}/t/cli-auth", registries={basic_registry.host: entry})
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["1"]


def test_unauthorised_exits_1_naming_registry_and_cause(basic_registry, invoke):
    result = invoke(f"{basic_registry.host}/t/cli-auth")
    assert result.exit_code == 1
    assert f"{basic_registry.host}/t/cli-auth" in result.stderr
    assert "authentication required" in result.stderr


def test_not_found_exits_1(registry, invoke):
    result = invoke(f"{registry.host}/t/never-pushed")
    assert result.exit_code == 1
    assert f"{registry.host}/t/never-pushed: tag list: not found" in result.stderr


def test_unreachable_registry_exits_1(invoke):
    from tests.harness import free_port

    host = f"127.0.0.1:{free_port()}"
    entry = {"timeout": 0.5, "retries": 1}
    result = invoke(f"{host}/t/x", registries={host: entry})
    assert result.exit_code == 1
    assert f"{host}/t/x: cannot connect" in result.stderr
    assert "after 2 attempts" in result.stderr


def test_an_invalid_image_reference_is_a_usage_error(invoke):
    result = invoke("Not A Reference")
    assert result.exit_code == 2
    assert "invalid image reference" in result.stderr
