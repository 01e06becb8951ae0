"""Configuration and command line: secrets never echoed, one rule for intervals, global
options anywhere, and every error in imagebot's own ``error:`` / ``hint:`` form."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from imagebot.cli import cli
from imagebot.config import INTERVAL_RULE, parse_config
from imagebot.errors import ConfigError

SECRET = "hunter2-s3cr3t-value"


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="imagebot.yaml")
    return str(caught.value) + " " + (caught.value.hint or "")


# --- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # wrong types: a number, a boolean, a date where a string belongs
        "registries:\n  ghcr.io:\n    username: me\n    password: 123456789\n",
        "repositories:\n  - url: https://x/r.git\n    pull_request:\n      token: 987654321\n",
        "service:\n  webhooks:\n    hub:\n      type: dockerhub\n      secret: 31337.5\n",
        "service:\n  webhooks:\n    hub:\n      type: dockerhub\n      secret: 2024-01-01\n",
    ],
)
def test_a_wrongly_typed_secret_is_never_echoed(text: str) -> None:
    message = config_error(text)
    for value in ("123456789", "987654321", "31337", "2024"):
        assert value not in message
    assert "secret" in message


@pytest.mark.parametrize(
    "text",
    [
        f"registries:\n  ghcr.io:\n    username: me\n    password: {SECRET}\n"
        f"    password: {SECRET}-again\n",
        f"service:\n  webhooks:\n    hub:\n      type: dockerhub\n      secret: {SECRET}\n"
        f"      secret: {SECRET}-2\n",
    ],
)
def test_a_duplicated_secret_key_names_the_key_never_the_values(text: str) -> None:
    message = config_error(text)
    assert SECRET not in message
    assert "duplicate key" in message


def test_a_secret_given_where_a_choice_belongs_is_not_echoed_as_a_hint() -> None:
    message = config_error(f"service:\n  webhooks:\n    hub:\n      type: {SECRET}\n")
    assert "type" in message  # not a secret key: its value may be shown
    message = config_error(
        "service:\n  webhooks:\n    hub:\n      type: dockerhub\n      secret: [a]\n"
    )
    assert "expected a string" in message


# --- intervals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "service:\n  interval: 0\n",
        "service:\n  interval: 500ms\n",
        "service:\n  cycle_interval: 0.5\n",
        "registries:\n  ghcr.io:\n    interval: 0s\n",
        "images:\n  ghcr.io/o/app:\n    interval: 0\n",
        "repositories:\n  - url: https://x/r.git\n    interval: 999ms\n",
    ],
)
def test_every_interval_refuses_zero_and_sub_second_values_with_one_message(text: str) -> None:
    assert INTERVAL_RULE in config_error(text)


@pytest.mark.parametrize("value", ["1s", "1", "90s", "5m"])
def test_an_interval_of_a_second_or_more_is_taken_as_written(value: str) -> None:
    config = parse_config(
        f"repositories:\n  - url: https://x/r.git\n    interval: {value}\n"
        f"registries:\n  ghcr.io:\n    interval: {value}\n"
    )
    assert config.repositories[0].interval == config.registries["ghcr.io"].interval >= 1


# --- global options, errors ------------------------------------------------------------


def test_global_options_are_accepted_after_the_subcommand() -> None:
    result = CliRunner().invoke(cli, ["completion", "bash", "--log-format", "json", "-q"])
    assert result.exit_code == 0, result.output


def test_a_subcommand_keeps_its_own_option_of_a_global_name(tmp_path: Path) -> None:
    # `check -v` is check's own --verbose, not the global one.
    (tmp_path / "app.yaml").write_text("kind: ConfigMap\n")
    result = CliRunner().invoke(cli, ["check", "--repo", str(tmp_path), "-v"])
    assert "no such option" not in result.output.lower()


def test_an_option_value_that_looks_global_stays_with_its_option() -> None:
    result = CliRunner().invoke(cli, ["policy", "test", "glob:*", "1.0", "--current", "-q"])
    # '-q' is the value of --current here (an invalid tag), not the global --quiet.
    assert "invalid tag '-q'" in result.output


@pytest.mark.parametrize("args", [["--bad"], ["--log-format", "xml", "list-images"], ["-x"]])
def test_an_error_in_a_global_option_has_imagebots_form_and_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert any(line.startswith("imagebot: error: ") for line in lines), result.output
    assert any(line.startswith("hint: ") for line in lines), result.output
    assert "Error:" not in result.output
