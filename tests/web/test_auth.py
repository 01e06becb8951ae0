"""Sign-in pieces of the Deploy view: the users file, signed sessions, CSRF tokens, and who a
request comes from."""

from __future__ import annotations

import os
import time
from pathlib import Path

from imagebot.config import WebConfig
from imagebot.web.auth import Access, Sessions, Users, hash_token


def test_a_token_names_its_user_and_a_rotated_file_is_read_again(tmp_path: Path):
    users_file = tmp_path / "users"
    users_file.write_text(f"alice: {hash_token('one-token-xyz')}\n# comment\nbroken line\n")
    users = Users(str(users_file))

    assert users.user_for("one-token-xyz") == "alice"
    assert users.user_for("other") is None
    users_file.write_text(f"alice: {hash_token('two-token-xyz')}\n")
    os.utime(users_file, (time.time() + 5, time.time() + 5))

    assert users.user_for("one-token-xyz") is None
    assert users.user_for("two-token-xyz") == "alice"


def test_a_tampered_or_foreign_session_cookie_is_ignored():
    sessions = Sessions(3600)
    cookie = sessions.dump(sessions.new("alice"))
    body, _, signature = cookie.rpartition(".")

    assert sessions.load(cookie).user == "alice"  # type: ignore[union-attr]
    assert sessions.load(body + "." + signature[::-1]) is None
    assert Sessions(3600).load(cookie) is None  # another process's key
    assert sessions.load("garbage") is None


def test_an_expired_session_is_ignored():
    sessions = Sessions(-1)

    assert sessions.load(sessions.dump(sessions.new("alice"))) is None


def test_a_csrf_token_belongs_to_one_session():
    sessions = Sessions(3600)
    mine, other = sessions.new(None), sessions.new(None)

    assert sessions.csrf_ok(mine, sessions.csrf(mine))
    assert not sessions.csrf_ok(mine, sessions.csrf(other))
    assert not sessions.csrf_ok(mine, None)
    assert not sessions.csrf_ok(None, sessions.csrf(mine))


def test_a_proxy_header_from_elsewhere_and_a_bearer_token_outside_the_api_do_not_count(
    tmp_path: Path,
):
    users_file = tmp_path / "users"
    users_file.write_text(f"alice: {hash_token('alice-token-1')}\n")
    access = Access(
        WebConfig(
            users_file=str(users_file),
            proxy_user_header="X-Forwarded-User",
            trusted_proxies=["10.0.0.0/8", "::1"],
        )
    )
    header = {"X-Forwarded-User": "carol", "authorization": "Bearer alice-token-1"}

    assert access.visitor(header, "10.9.8.7", None).user == "carol"
    assert access.visitor(header, "::1", None).user == "carol"
    assert access.visitor(header, "192.0.2.1", None).user is None
    assert access.visitor({"authorization": "Bearer alice-token-1"}, "192.0.2.1", None).user is None
    assert (
        access.visitor({"authorization": "Bearer alice-token-1"}, "192.0.2.1", None, api=True).user
        == "alice"
    )
