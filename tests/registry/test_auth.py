"""Anonymous, Basic and Bearer access against real registries; tokens reused per scope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagebot.errors import Unauthorized
from imagebot.reference import ImageReference
from imagebot.registry import auth
from tests.harness import (
    ADMIN_USER,
    READER_PASSWORD,
    READER_USER,
    LoopbackProxy,
    Reply,
    start_registry,
)
from tests.registry.helpers import FAST, make_config, run


def reader(host: str) -> dict:
    return {host: {**FAST, "username": READER_USER, "password": READER_PASSWORD}}


# --- challenge parsing ------------------------------------------------------------------


def test_bearer_challenge_is_parsed_case_insensitively():
    (challenge,) = auth.parse_challenges(
        'BEARER Realm="https://auth.example/token",SERVICE="registry.example",'
        'scope="repository:team/app:pull"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example/token"
    assert challenge.service == "registry.example"
    assert challenge.scope == "repository:team/app:pull"


def test_several_challenges_in_one_header_prefer_bearer():
    header = 'Basic realm="basic realm, with comma", Bearer realm="https://a/t",service=s'
    chosen = auth.pick_challenge([header])
    assert chosen is not None
    assert chosen.scheme == "bearer"
    assert chosen.realm == "https://a/t"
    assert auth.parse_challenges(header)[0].realm == "basic realm, with comma"


def test_quoted_values_keep_escaped_quotes_and_unquoted_values_work():
    (challenge,) = auth.parse_challenges(r'Bearer realm="a\"b",service=plain')
    assert challenge.params == {"realm": 'a"b', "service": "plain"}


def test_token_is_read_from_access_token_and_expires_early():
    token = auth.token_from_response({"access_token": "abc", "expires_in": 300}, now=100.0)
    assert token.value == "abc"
    assert token.valid(389.0)
    assert not token.valid(391.0)


def test_token_without_expires_in_lives_the_spec_default_of_60_seconds():
    token = auth.token_from_response({"token": "abc"}, now=0.0)
    assert token.valid(49.0)
    assert not token.valid(51.0)


# --- Basic --------------------------------------------------------------------------------


def test_basic_auth_with_configured_credentials_lists_tags(basic_registry, repo_name, new_client):
    basic_registry.push(repo_name, ["1.0"])

    async def go():
        async with new_client(make_config(reader(basic_registry.host))) as client:
            return await client.list_tags(
                ImageReference.parse(f"{basic_registry.host}/{repo_name}")
            )

    assert run(go()).tags == ["1.0"]


def test_basic_auth_without_credentials_is_unauthorized(basic_registry, repo_name, new_client):
    basic_registry.push(repo_name, ["1.0"])

    async def go():
        config = make_config({basic_registry.host: FAST}, docker_config="/nonexistent")
        async with new_client(config) as client:
            await client.list_tags(ImageReference.parse(f"{basic_registry.host}/{repo_name}"))

    with pytest.raises(Unauthorized, match="authentication required and no credentials found"):
        run(go())


def test_basic_auth_with_a_wrong_password_is_unauthorized(basic_registry, repo_name, new_client):
    basic_registry.push(repo_name, ["1.0"])
    entry = {basic_registry.host: {**FAST, "username": READER_USER, "password": "wrong"}}

    async def go():
        async with new_client(make_config(entry)) as client:
            await client.list_tags(ImageReference.parse(f"{basic_registry.host}/{repo_name}"))

    with pytest.raises(
        Unauthorized, match=f"{basic_registry.host}/{repo_name}.*credentials rejected"
    ):
        run(go())


def test_basic_credentials_are_sent_preemptively_once_known(basic_registry, new_client):
    for name in ("t/pre-a", "t/pre-b", "t/pre-c"):
        basic_registry.push(name, ["1"])
    with LoopbackProxy(basic_registry.host) as proxy:

        async def go():
            async with new_client(make_config(reader(proxy.host))) as client:
                for name in ("t/pre-a", "t/pre-b", "t/pre-c"):
                    await client.list_tags(ImageReference.parse(f"{proxy.host}/{name}"))

        run(go())
        assert len(proxy.seen) == 4  # one 401 to learn the scheme, then one request each


# --- Bearer -------------------------------------------------------------------------------


def test_anonymous_bearer_token_is_fetched_and_reused(token_registry, repo_name, new_client):
    token_registry.push(repo_name, ["1.0", "2.0"])
    image = ImageReference.parse(f"{token_registry.host}/{repo_name}")
    before = len(token_registry.token_server.requests)

    async def go():
        async with new_client(make_config({token_registry.host: FAST})) as client:
            await client.list_tags(image)
            await client.get_digest(image, "1.0")
            await client.get_digest(image, "2.0")

    run(go())
    fetched = token_registry.token_server.requests[before:]
    assert [(r.account, r.scopes) for r in fetched] == [(None, [f"repository:{repo_name}:pull"])]
    assert fetched[0].service == token_registry.token_server.service


def test_bearer_token_scope_is_per_repository(token_registry, new_client):
    names = ["t/scope-a", "t/scope-b"]
    for name in names:
        token_registry.push(name, ["1"])
    before = len(token_registry.token_server.requests)

    async def go():
        async with new_client(make_config(reader(token_registry.host))) as client:
            for name in names * 2:
                await client.list_tags(ImageReference.parse(f"{token_registry.host}/{name}"))

    run(go())
    fetched = token_registry.token_server.requests[before:]
    assert sorted(s for r in fetched for s in r.scopes) == [f"repository:{n}:pull" for n in names]
    assert {r.account for r in fetched} == {READER_USER}


def test_expired_token_is_replaced(token_registry, repo_name, new_client, fake_time):
    token_registry.push(repo_name, ["1"])
    image = ImageReference.parse(f"{token_registry.host}/{repo_name}")
    before = len(token_registry.token_server.requests)

    async def go():
        async with new_client(make_config({token_registry.host: FAST})) as client:
            await client.list_tags(image)
            fake_time.now += 295  # the server's expires_in is 300; we keep a margin
            await client.list_tags(image)

    run(go())
    assert len(token_registry.token_server.requests) - before == 2


def test_private_repository_without_credentials_is_unauthorized(token_registry, new_client):
    token_registry.push("private/secret", ["1"])

    async def go():
        config = make_config({token_registry.host: FAST}, docker_config="/nonexistent")
        async with new_client(config) as client:
            await client.list_tags(ImageReference.parse(f"{token_registry.host}/private/secret"))

    with pytest.raises(Unauthorized, match="no credentials found") as caught:
        run(go())
    assert caught.value.registry == token_registry.host
    assert caught.value.repository == "private/secret"


def test_private_repository_with_credentials_is_listed(token_registry, new_client):
    token_registry.push("private/readable", ["1"])

    async def go():
        async with new_client(make_config(reader(token_registry.host))) as client:
            image = ImageReference.parse(f"{token_registry.host}/private/readable")
            return await client.list_tags(image)

    assert run(go()).tags == ["1"]


def test_token_server_rejecting_credentials_is_unauthorized(token_registry, new_client):
    entry = {token_registry.host: {**FAST, "username": READER_USER, "password": "nope"}}

    async def go():
        async with new_client(make_config(entry)) as client:
            await client.list_tags(ImageReference.parse(f"{token_registry.host}/t/whatever"))

    with pytest.raises(
        Unauthorized, match=r"token server 127\.0\.0\.1:[0-9]+: credentials rejected"
    ):
        run(go())


def test_token_from_access_token_field_only(tmp_path, new_client):
    with start_registry(tmp_path / "reg", auth="token", token_field="access_token") as server:
        server.push("t/access", ["1"])

        async def go():
            async with new_client(make_config({server.host: FAST})) as client:
                return await client.list_tags(ImageReference.parse(f"{server.host}/t/access"))

        assert run(go()).tags == ["1"]


def test_identity_token_is_exchanged_with_a_refresh_token_post(
    token_registry, tmp_path, new_client
):
    token_registry.push("private/by-refresh", ["1"])
    token_registry.token_server.refresh_tokens["refresh-123"] = ADMIN_USER
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(
        json.dumps({"auths": {token_registry.host: {"identitytoken": "refresh-123"}}})
    )
    before = len(token_registry.token_server.requests)

    async def go():
        config = make_config({token_registry.host: FAST}, docker_config=str(docker))
        async with new_client(config) as client:
            image = ImageReference.parse(f"{token_registry.host}/private/by-refresh")
            return await client.list_tags(image)

    assert run(go()).tags == ["1"]
    (request,) = token_registry.token_server.requests[before:]
    assert request.method == "POST"
    assert request.account == ADMIN_USER


# --- Authorization stays with its host ---------------------------------------------------


class BlobRedirector(LoopbackProxy):
    """Answers blob GETs with a redirect to another host, as registries do for S3/CDNs."""

    def __init__(self, upstream: str, blob_host: str) -> None:
        super().__init__(upstream)
        self.blob_host = blob_host

    def handle(self, handler, body):
        if handler.command == "GET" and "/blobs/sha256:" in handler.path:
            return Reply(307, {"Location": f"http://{self.blob_host}{handler.path}"})
        return None


def test_redirect_to_blob_storage_carries_no_authorization(
    basic_registry, registry, tmp_path: Path, new_client
):
    # Same content in both registries, so the blob storage (the open one) can answer.
    created = "2024-05-06T07:08:09Z"
    pushed = basic_registry.push("t/redirected", ["1.0"], created=created)
    registry.push("t/redirected", ["1.0"], created=created)
    with (
        LoopbackProxy(registry.host) as storage,
        BlobRedirector(basic_registry.host, storage.host) as front,
    ):

        async def go():
            async with new_client(make_config(reader(front.host))) as client:
                return await client.image_info(
                    ImageReference.parse(f"{front.host}/t/redirected"), "1.0"
                )

        info = run(go())
        assert info.digest == pushed.digest
        assert info.created is not None
        assert storage.seen
        assert all(s.authorization is None for s in storage.seen)
        assert any(s.authorization for s in front.seen)
