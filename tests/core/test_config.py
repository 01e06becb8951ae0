"""The config file is validated strictly; every error names file, line and key."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from imagebot.config import (
    Config,
    Duration,
    RegistryConfig,
    default_state_dir,
    iter_fields,
    load_config,
    parse_config,
)
from imagebot.errors import ConfigError


def parse(text: str) -> Config:
    return parse_config(textwrap.dedent(text), file="imagebot.yaml")


def test_an_empty_file_gives_the_defaults():
    assert parse("") == Config()


def test_registries_are_read_by_host():
    config = parse(
        """
        registries:
          docker.io:
            mirror: https://mirror.example.com/
            rate_limit: 1.5
            max_concurrency: 2
          localhost:5000:
            insecure: true
        """
    )
    assert config.registries["docker.io"].mirror == "https://mirror.example.com"
    assert config.registries["docker.io"].rate_limit == 1.5
    assert config.registries["docker.io"].max_concurrency == 2
    assert config.registries["localhost:5000"].insecure is True


def test_unknown_registry_host_gets_defaults():
    assert parse("").registry("quay.io") == RegistryConfig()


def test_legacy_docker_hub_hosts_share_docker_io_settings():
    config = parse("registries: {docker.io: {rate_limit: 1}}")
    assert config.registry("index.docker.io").rate_limit == 1


def test_unknown_key_names_file_line_key_and_closest_match():
    with pytest.raises(ConfigError) as info:
        parse(
            """
            registries:
              docker.io:
                rate_limt: 3
            """
        )
    message = str(info.value)
    assert message.startswith("imagebot.yaml:4: registries.docker.io.rate_limt: unknown key")
    assert info.value.hint == "did you mean 'rate_limit'?"
    assert info.value.exit_code == 2


def test_wrong_type_names_the_key_and_the_expected_type():
    with pytest.raises(ConfigError, match=r":3: registries.ghcr.io.rate_limit: expected a number"):
        parse(
            """
            registries:
              ghcr.io: {rate_limit: fast}
            """
        )


def test_a_list_item_error_names_its_index():
    with pytest.raises(ConfigError, match=r"repositories\[1\].write_mode: expected one of"):
        parse(
            """
            repositories:
              - url: file:///a
              - url: file:///b
                write_mode: pull_request
            """
        )


def test_required_keys_are_reported_missing():
    with pytest.raises(ConfigError, match=r"service.webhooks.hub: missing required key 'type'"):
        parse(
            """
            service:
              webhooks:
                hub: {secret: x}
            """
        )


def test_an_unquoted_number_where_a_string_is_expected_suggests_quotes():
    with pytest.raises(ConfigError) as info:
        parse("repositories: [{url: file:///a, branch: 1.20}]")
    assert "expected a string" in str(info.value)
    assert info.value.hint == "quote the value"


def test_invalid_yaml_reports_the_line():
    with pytest.raises(ConfigError, match=r"imagebot.yaml:\d+: not valid YAML"):
        parse("registries:\n  a: [1,\n")


def test_durations_accept_numbers_and_units():
    config = parse("service: {interval: 1h30m, jitter: 45, shutdown_timeout: 500ms}")
    assert config.service.interval == 5400
    assert config.service.jitter == 45
    assert config.service.shutdown_timeout == pytest.approx(0.5)


@pytest.mark.parametrize("bad", ["5 minutes", "-1", "1x", "", "true"])
def test_bad_durations_are_refused(bad):
    with pytest.raises(ValueError):
        Duration.parse(bad if bad != "true" else True)


def test_a_single_string_is_accepted_where_a_list_of_strings_is_expected():
    config = parse("repositories: [{path: /x, include: 'apps/**/*.yaml'}]")
    assert config.repositories[0].include == ["apps/**/*.yaml"]


def test_repository_display_name_comes_from_the_url():
    config = parse("repositories: [{url: 'git@github.com:org/fleet.git'}, {path: /srv/infra/}]")
    assert [r.display_name for r in config.repositories] == ["fleet", "infra"]


def test_load_config_reads_the_env_variable(tmp_path: Path, monkeypatch):
    file = tmp_path / "c.yaml"
    file.write_text("tag_cache_ttl: 2m\n")
    monkeypatch.setenv("IMAGEBOT_CONFIG", str(file))
    config = load_config()
    assert config.tag_cache_ttl == 120
    assert config.source == str(file)


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_state_dir_defaults_to_xdg_state_home(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("IMAGEBOT_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "imagebot"
    monkeypatch.setenv("IMAGEBOT_STATE_DIR", str(tmp_path / "s"))
    assert default_state_dir() == tmp_path / "s"


def test_every_setting_is_documented():
    undocumented = [path for path, _, text in iter_fields(Config) if not text]
    assert undocumented == []


def test_the_old_name_of_behind_alert_after_is_read_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="imagebot.config"):
        config = parse_config("service:\n  blocked_alert_after: 2h\n", file="bot.yaml")

    assert config.service.behind_alert_after == 7200
    (record,) = caplog.records
    assert record.getMessage() == (
        "bot.yaml:2: service.blocked_alert_after is deprecated: call it behind_alert_after"
    )


def test_the_old_and_the_new_name_together_are_an_error() -> None:
    with pytest.raises(ConfigError, match="give only 'behind_alert_after'"):
        parse_config("service:\n  behind_alert_after: 1h\n  blocked_alert_after: 2h\n")
