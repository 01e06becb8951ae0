"""The `registries:` section: validation errors name the bad key."""

from __future__ import annotations

import pytest

from imagebot.config import parse_config
from imagebot.errors import ConfigError


def load(text: str):
    return parse_config(text, file="imagebot.yaml")


def test_a_full_entry_is_accepted():
    config = load(
        """
registries:
  docker.io:
    mirror: https://mirror.example.com/hub/
    rate_limit: 1.5
    max_concurrency: 2
    retries: 2
    timeout: 10s
  ghcr.io:
    username: bot
    password_env: GHCR_TOKEN
pull_secrets: [/var/run/secrets/regcred]
"""
    )
    hub = config.registry("index.docker.io")
    assert hub.mirror == "https://mirror.example.com/hub"
    assert (hub.rate_limit, hub.max_concurrency, hub.retries, hub.timeout) == (1.5, 2, 2, 10)
    assert config.registry("ghcr.io").password_env == "GHCR_TOKEN"
    assert config.pull_secrets == ["/var/run/secrets/regcred"]


@pytest.mark.parametrize(
    ("entry", "key", "message"),
    [
        ("{mirrorr: https://m}", "registries.r.example.mirrorr", "unknown key"),
        ("{mirror: mirror.example.com}", "registries.r.example.mirror", "expected a URL"),
        ("{username: bot}", "registries.r.example.username", "needs password"),
        ("{password: x}", "registries.r.example.password", "needs a username"),
        (
            "{username: u, password: x, password_file: f}",
            "registries.r.example.password_file",
            "only one of",
        ),
        (
            "{username: u, password: x, credential_helper: pass}",
            "registries.r.example.credential_helper",
            "either username or credential_helper",
        ),
        ("{rate_limit: 0}", "registries.r.example.rate_limit", "above 0"),
        ("{rate_limit: fast}", "registries.r.example.rate_limit", "expected a number"),
        ("{max_concurrency: 0}", "registries.r.example.max_concurrency", "at least 1"),
        ("{retries: -1}", "registries.r.example.retries", "at least 0"),
        ("{insecure: yes please}", "registries.r.example.insecure", "true or false"),
    ],
)
def test_invalid_entries_name_the_bad_key(entry, key, message):
    with pytest.raises(ConfigError) as caught:
        load(f"registries:\n  r.example: {entry}\n")
    assert caught.value.key == key
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"imagebot.yaml:2: {key}: ")
