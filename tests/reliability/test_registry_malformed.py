"""A malformed registry answer is an error for that repository naming its URL, never a
traceback: wrong JSON types, truncated JSON, JSON nested past the parser, non-UTF-8."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from imagebot.errors import MalformedAnswer
from tests.cli.ux_support import run as run_cli
from tests.reliability.hostile import Conn, HostileServer
from tests.reliability.registry_support import config, image_info, scan

DEEP = b"[" * 200_000 + b"]" * 200_000
DEEP_OBJECT = b'{"tags": ' + DEEP + b"}"

TAG_LISTS = {
    "tags-is-a-string": (b'{"tags": "1.0"}', "'tags' that is not a list of strings"),
    "tags-are-numbers": (b'{"tags": [1, 2]}', "'tags' that is not a list of strings"),
    "a-list-not-an-object": (b'["1.0"]', "is not a JSON object"),
    "truncated": (b'{"tags": ["1.0", "2.', "is not JSON"),
    "nested-past-the-parser": (DEEP, "nested too deeply"),
    "nested-inside-tags": (DEEP_OBJECT, "nested too deeply"),
    "not-utf-8": ('{"tags": ["café"]}'.encode("latin-1"), "is not UTF-8"),
    "empty": (b"", "is not JSON"),
}


def serving(body: bytes):
    return lambda conn: conn.reply(200, body)


@pytest.mark.parametrize("case", TAG_LISTS, ids=list(TAG_LISTS))
def test_a_malformed_tag_list_is_that_repositorys_error_naming_the_url(case):
    body, problem = TAG_LISTS[case]
    with HostileServer(serving(body)) as server:
        results = scan(config({server.host: {}}), f"{server.host}/team/app")
    error = results[f"{server.host}/team/app"]
    assert isinstance(error, MalformedAnswer)
    assert f"http://{server.host}/v2/team/app/tags/list?n=1000" in str(error)
    assert problem in str(error)


def _manifest_server(manifest: bytes):
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()

    def script(conn: Conn) -> None:
        if "/manifests/" in conn.request.path:
            conn.reply(200, manifest, {"Docker-Content-Digest": digest})
        else:
            conn.reply(404, b"{}")

    return script


#: body, and the error it gives (None: read as an image with nothing known about it)
MANIFESTS: dict[str, tuple[bytes, str | None]] = {
    "nested-past-the-parser": (b'{"manifests": ' + DEEP + b"}", "is JSON nested too deeply"),
    "manifests-is-a-number": (
        json.dumps(
            {"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": 5}
        ).encode(),
        None,
    ),
    "media-type-is-a-list": (
        json.dumps({"mediaType": ["x"], "config": {}}).encode(),
        "has a bad mediaType",
    ),
    "schema-1-history-of-numbers": (
        json.dumps({"schemaVersion": 1, "history": [{"v1Compatibility": 7}]}).encode(),
        None,
    ),
    "not-utf-8": (b'{"mediaType": "\xff\xfe"}', "is not UTF-8"),
    "a-number": (b"42", "is not a JSON object"),
}


@pytest.mark.parametrize("case", MANIFESTS, ids=list(MANIFESTS))
def test_a_malformed_manifest_is_a_named_error_or_an_unknown_build_time(case):
    body, problem = MANIFESTS[case]
    with HostileServer(_manifest_server(body)) as server:
        cfg = config({server.host: {}})
        if problem is None:
            info = image_info(cfg, f"{server.host}/team/app", "1.0")
            assert info.created is None
            assert info.platforms == []
            return
        with pytest.raises(MalformedAnswer, match=problem) as caught:
            image_info(cfg, f"{server.host}/team/app", "1.0")
    assert f"from http://{server.host}/v2/team/app/manifests/sha256:" in str(caught.value)


def test_a_token_nested_past_the_parser_is_an_error_naming_its_url():
    with HostileServer(serving(b'{"token": ' + DEEP + b"}")) as realm:

        def registry(conn: Conn) -> None:
            challenge = f'Bearer realm="{realm.url}/token",service="s"'
            conn.reply(401, b"{}", {"WWW-Authenticate": challenge})

        with HostileServer(registry) as server:
            results = scan(config({server.host: {}}), f"{server.host}/team/app")
    error = results[f"{server.host}/team/app"]
    assert isinstance(error, MalformedAnswer)
    assert f"token from http://{realm.host}/token?" in str(error)


def test_the_cli_reports_a_malformed_answer_as_an_error_not_a_traceback(tmp_path: Path):
    with HostileServer(serving(DEEP)) as server:
        result = run_cli("tags", f"{server.host}/team/app", state=tmp_path / "state")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"imagebot: error: {server.host}/team/app: tag list from ")
    assert "nested too deeply" in result.stderr
