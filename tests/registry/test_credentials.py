"""Credentials from the config, the environment, Kubernetes Secrets and Docker's config.json,
checked end to end against the Basic-auth registry."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from imagebot.errors import Unauthorized
from imagebot.reference import ImageReference
from imagebot.registry.credentials import CredentialResolver, env_key
from tests.harness import READER_PASSWORD, READER_USER
from tests.registry.helpers import FAST, make_config, run


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def list_with(new_client, server, repo, config, environ=None):
    async def go():
        resolver = CredentialResolver(config, environ=environ or {})
        async with new_client(config, credentials=resolver) as client:
            return await client.list_tags(ImageReference.parse(f"{server.host}/{repo}"))

    return run(go())


@pytest.fixture
def pushed(basic_registry) -> str:
    basic_registry.push("t/credentials", ["1.0"])
    return "t/credentials"


@pytest.fixture
def docker_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "docker"
    directory.mkdir()
    return directory


def write_helper(directory: Path, name: str, body: str) -> Path:
    """A docker-credential-<name> script; what it was asked is logged to asked.txt."""
    script = directory / f"docker-credential-{name}"
    script.write_text(f"#!/bin/sh\ncat > {directory}/asked.txt\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_env_key_scheme():
    assert env_key("ghcr.io") == "IMAGEBOT_REGISTRY_GHCR_IO"
    assert env_key("localhost:5000") == "IMAGEBOT_REGISTRY_LOCALHOST_5000"
    assert env_key("registry-1.docker.io") == "IMAGEBOT_REGISTRY_DOCKER_IO"


def test_password_file_from_config(basic_registry, pushed, tmp_path, new_client):
    secret = tmp_path / "password"
    secret.write_text(READER_PASSWORD + "\n")
    entry = {**FAST, "username": READER_USER, "password_file": str(secret)}
    config = make_config({basic_registry.host: entry})
    assert list_with(new_client, basic_registry, pushed, config).tags == ["1.0"]


def test_password_env_from_config(basic_registry, pushed, new_client):
    entry = {**FAST, "username": READER_USER, "password_env": "MY_REGISTRY_TOKEN"}
    config = make_config({basic_registry.host: entry})
    environ = {"MY_REGISTRY_TOKEN": READER_PASSWORD}
    assert list_with(new_client, basic_registry, pushed, config, environ).tags == ["1.0"]


def test_missing_password_env_is_an_error_naming_the_variable(basic_registry, pushed, new_client):
    entry = {**FAST, "username": READER_USER, "password_env": "UNSET_VARIABLE"}
    config = make_config({basic_registry.host: entry})
    with pytest.raises(Unauthorized, match=r"\$UNSET_VARIABLE, which is not set"):
        list_with(new_client, basic_registry, pushed, config)


def test_environment_variables(basic_registry, pushed, new_client):
    key = env_key(basic_registry.host)
    environ = {f"{key}_USERNAME": READER_USER, f"{key}_PASSWORD": READER_PASSWORD}
    config = make_config({basic_registry.host: FAST}, docker_config="/nonexistent")
    assert list_with(new_client, basic_registry, pushed, config, environ).tags == ["1.0"]


def test_config_entry_wins_over_environment(basic_registry, pushed, new_client):
    key = env_key(basic_registry.host)
    environ = {f"{key}_USERNAME": READER_USER, f"{key}_PASSWORD": "wrong"}
    entry = {**FAST, "username": READER_USER, "password": READER_PASSWORD}
    config = make_config({basic_registry.host: entry})
    assert list_with(new_client, basic_registry, pushed, config, environ).tags == ["1.0"]


def test_docker_config_auths_entry(basic_registry, pushed, docker_dir, new_client):
    (docker_dir / "config.json").write_text(
        json.dumps(
            {"auths": {basic_registry.host: {"auth": b64(f"{READER_USER}:{READER_PASSWORD}")}}}
        )
    )
    config = make_config({basic_registry.host: FAST}, docker_config=str(docker_dir))
    assert list_with(new_client, basic_registry, pushed, config).tags == ["1.0"]


def test_docker_config_found_through_DOCKER_CONFIG(basic_registry, pushed, docker_dir, new_client):
    # Keys may be written as URLs, as `docker login` does for some registries.
    url_key = f"https://{basic_registry.host}/v2/"
    (docker_dir / "config.json").write_text(
        json.dumps({"auths": {url_key: {"username": READER_USER, "password": READER_PASSWORD}}})
    )
    config = make_config({basic_registry.host: FAST})
    environ = {"DOCKER_CONFIG": str(docker_dir)}
    assert list_with(new_client, basic_registry, pushed, config, environ).tags == ["1.0"]


def test_docker_config_cred_helper_script(
    basic_registry, pushed, docker_dir, tmp_path, monkeypatch, new_client
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    answer = json.dumps(
        {"ServerURL": basic_registry.host, "Username": READER_USER, "Secret": READER_PASSWORD}
    )
    write_helper(bin_dir, "imagebot-test", f"echo '{answer}'")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (docker_dir / "config.json").write_text(
        json.dumps({"credHelpers": {basic_registry.host: "imagebot-test"}})
    )
    config = make_config({basic_registry.host: FAST}, docker_config=str(docker_dir))
    assert list_with(new_client, basic_registry, pushed, config).tags == ["1.0"]
    assert (bin_dir / "asked.txt").read_text() == basic_registry.host


def test_docker_config_creds_store_script(
    basic_registry, pushed, docker_dir, tmp_path, monkeypatch, new_client
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    answer = json.dumps({"Username": READER_USER, "Secret": READER_PASSWORD})
    write_helper(bin_dir, "store-test", f"echo '{answer}'")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (docker_dir / "config.json").write_text(
        json.dumps({"credsStore": "store-test", "auths": {basic_registry.host: {}}})
    )
    config = make_config({basic_registry.host: FAST}, docker_config=str(docker_dir))
    assert list_with(new_client, basic_registry, pushed, config).tags == ["1.0"]


def test_credential_helper_named_in_the_config(
    basic_registry, pushed, tmp_path, monkeypatch, new_client
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    answer = json.dumps({"Username": READER_USER, "Secret": READER_PASSWORD})
    write_helper(bin_dir, "from-config", f"echo '{answer}'")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = make_config({basic_registry.host: {**FAST, "credential_helper": "from-config"}})
    assert list_with(new_client, basic_registry, pushed, config).tags == ["1.0"]


def test_helper_that_has_no_credentials_means_anonymous(
    basic_registry, pushed, tmp_path, monkeypatch, new_client
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_helper(bin_dir, "empty", "echo 'credentials not found in native keychain'; exit 1")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = make_config({basic_registry.host: {**FAST, "credential_helper": "empty"}})
    with pytest.raises(Unauthorized, match="no credentials found"):
        list_with(new_client, basic_registry, pushed, config)


def test_missing_helper_named_for_the_host_is_an_error(basic_registry, pushed, new_client):
    config = make_config({basic_registry.host: {**FAST, "credential_helper": "does-not-exist"}})
    with pytest.raises(Unauthorized, match="docker-credential-does-not-exist is not on PATH"):
        list_with(new_client, basic_registry, pushed, config)


def test_kubernetes_dockerconfigjson_secret_directory(basic_registry, pushed, tmp_path, new_client):
    mounted = tmp_path / "secret"
    mounted.mkdir()
    secret = {"auths": {basic_registry.host: {"auth": b64(f"{READER_USER}:{READER_PASSWORD}")}}}
    (mounted / ".dockerconfigjson").write_text(json.dumps(secret))
    config = make_config(
        {basic_registry.host: FAST}, pull_secrets=[str(mounted)], docker_config="/nonexistent"
    )
    assert list_with(new_client, basic_registry, pushed, config).tags == ["1.0"]


def test_legacy_dockercfg_secret_file(basic_registry, pushed, tmp_path, new_client):
    legacy = tmp_path / "dockercfg"
    legacy.write_text(
        json.dumps({basic_registry.host: {"username": READER_USER, "password": READER_PASSWORD}})
    )
    config = make_config({basic_registry.host: FAST}, pull_secrets=[str(legacy)])
    assert list_with(new_client, basic_registry, pushed, config).tags == ["1.0"]


def test_docker_hub_entry_is_found_under_its_legacy_key(tmp_path):
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(
        json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": b64("hubuser:hubpass")}}})
    )
    resolver = CredentialResolver(make_config(docker_config=str(docker)), environ={})
    found = run(resolver.resolve("registry-1.docker.io"))
    assert found is not None
    assert (found.username, found.password) == ("hubuser", "hubpass")
    assert "hubpass" not in repr(found)


def test_credentials_for_another_host_are_not_used(tmp_path):
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(
        json.dumps({"auths": {"other.example": {"auth": b64("u:p")}}})
    )
    resolver = CredentialResolver(make_config(docker_config=str(docker)), environ={})
    assert run(resolver.resolve("registry.example")) is None
