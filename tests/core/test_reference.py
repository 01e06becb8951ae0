"""Image references parse like `docker pull` reads them and render back as the user wrote them."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from imagebot.errors import InvalidReference, InvalidTag
from imagebot.reference import (
    ImageReference,
    is_valid_digest,
    is_valid_tag,
    split_domain,
    validate_tag,
)

DIGEST = "sha256:" + "a" * 64
DIGEST2 = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", None, None),
        ("alpine:3.10.1", "docker.io", "library/alpine", "3.10.1", None),
        ("stefanprodan/podinfo:3.1.0", "docker.io", "stefanprodan/podinfo", "3.1.0", None),
        ("docker.io/alpine:3", "docker.io", "library/alpine", "3", None),
        ("index.docker.io/library/alpine", "docker.io", "library/alpine", None, None),
        ("ghcr.io/stefanprodan/podinfo:6.5.0", "ghcr.io", "stefanprodan/podinfo", "6.5.0", None),
        ("localhost:5000/x", "localhost:5000", "x", None, None),
        ("localhost/x:1", "localhost", "x", "1", None),
        ("127.0.0.1:5000/team/app:v1", "127.0.0.1:5000", "team/app", "v1", None),
        ("[::1]:5000/app:1.0", "[::1]:5000", "app", "1.0", None),
        ("Registry/app", "Registry", "app", None, None),
        (
            "gcr.io/google-samples/microservices-demo/frontend:v0.10.1",
            "gcr.io",
            "google-samples/microservices-demo/frontend",
            "v0.10.1",
            None,
        ),
        (f"alpine@{DIGEST}", "docker.io", "library/alpine", None, DIGEST),
        (f"alpine:3.19@{DIGEST}", "docker.io", "library/alpine", "3.19", DIGEST),
        ("quay.io/a_b/c__d/e-f.g:T_1.x-Y", "quay.io", "a_b/c__d/e-f.g", "T_1.x-Y", None),
    ],
)
def test_parse_normalises_like_docker(text, domain, path, tag, digest):
    ref = ImageReference.parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)


def test_repository_is_host_and_path():
    assert ImageReference.parse("alpine:3").repository == "docker.io/library/alpine"


def test_familiar_name_is_the_short_docker_form():
    assert ImageReference.parse("docker.io/library/alpine:3").familiar_name == "alpine"
    assert ImageReference.parse("bitnami/redis").familiar_name == "bitnami/redis"
    assert ImageReference.parse("ghcr.io/a/b").familiar_name == "ghcr.io/a/b"


def test_changing_the_tag_keeps_the_short_spelling():
    ref = ImageReference.parse("alpine:3.10.1")
    assert str(ref.with_tag("3.10.2")) == "alpine:3.10.2"


def test_changing_the_tag_keeps_an_explicit_host_spelling():
    ref = ImageReference.parse("index.docker.io/library/alpine:3.10.1")
    assert str(ref.with_tag("3.10.2")) == "index.docker.io/library/alpine:3.10.2"


def test_changing_tag_and_digest_together():
    ref = ImageReference.parse(f"alpine:3.18@{DIGEST}")
    assert str(ref.with_tag("3.19", DIGEST2)) == f"alpine:3.19@{DIGEST2}"


def test_a_port_is_not_mistaken_for_a_tag():
    ref = ImageReference.parse("localhost:5000/x")
    assert ref.tag is None
    assert str(ref.with_tag("2")) == "localhost:5000/x:2"


def test_render_round_trips_what_was_written():
    for text in ("alpine", "a/b:c", f"h.io:443/x/y:1@{DIGEST}", "localhost/x"):
        assert str(ImageReference.parse(text)) == text


def test_from_parts_builds_split_helm_forms():
    ref = ImageReference.from_parts("bitnami/redis", "5.0.7")
    assert ref.repository == "docker.io/bitnami/redis"
    assert str(ref) == "bitnami/redis:5.0.7"


def test_from_parts_rejects_a_repository_that_carries_a_tag():
    with pytest.raises(InvalidReference, match="has a tag"):
        ImageReference.from_parts("bitnami/redis:5", "5.0.7")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        (" alpine", "spaces"),
        ("alpine:", "tag"),
        ("alpine:-bad", "tag"),
        ("alpine:" + "a" * 129, "128"),
        ("library/Alpine", "lowercase"),
        ("alpine@sha256:1234", "digest"),
        ("alpine@md5", "digest"),
        ("a//b", "repository name"),
        ("-a/b", "repository name"),
        ("example.com/", "missing repository|repository name"),
        ("bad_host.com/x", "registry host"),
        ("x/" + "a" * 260, "255"),
    ],
)
def test_invalid_references_are_rejected_with_a_reason(text, why):
    with pytest.raises(InvalidReference, match=why):
        ImageReference.parse(text)


def test_invalid_reference_is_a_user_error_with_exit_code_2():
    with pytest.raises(InvalidReference) as info:
        ImageReference.parse("UPPER")
    assert info.value.exit_code == 2


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "_x", "1", "A.b-C_d", "a" * 128])
def test_valid_tags_follow_the_oci_grammar(tag):
    assert is_valid_tag(tag)
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".a", "-a", "a b", "a/b", "a:b", "a" * 129, "ä", "a\n"])
def test_invalid_tags_are_refused(tag):
    assert not is_valid_tag(tag)
    with pytest.raises(InvalidTag):
        validate_tag(tag)


def test_with_tag_refuses_an_invalid_tag():
    with pytest.raises(InvalidTag):
        ImageReference.parse("alpine:3").with_tag("bad tag")


def test_known_digest_algorithms_need_their_exact_length():
    assert is_valid_digest(DIGEST)
    assert not is_valid_digest("sha256:" + "a" * 63)
    assert not is_valid_digest("sha256:" + "A" * 64)
    assert is_valid_digest("sha512:" + "0" * 128)


def test_split_domain_keeps_single_component_names_on_docker_hub():
    assert split_domain("redis") == ("docker.io", "library/redis")
    assert split_domain("my.registry/redis") == ("my.registry", "redis")


_component = st.from_regex(r"[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
_tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True)


@given(
    host=st.sampled_from(["", "ghcr.io/", "localhost:5000/", "registry.example.com:443/"]),
    parts=st.lists(_component, min_size=1, max_size=3),
    tag=st.none() | _tags,
    new_tag=_tags,
)
def test_any_valid_reference_round_trips_and_retags_in_place(host, parts, tag, new_tag):
    # Without a host, a first component with a dot would be read as a (bad) host, as Docker does.
    assume(host or len(parts) == 1 or "." not in parts[0])
    text = host + "/".join(parts) + (f":{tag}" if tag else "")
    ref = ImageReference.parse(text)
    assert str(ref) == text
    retagged = str(ref.with_tag(new_tag))
    assert retagged == host + "/".join(parts) + f":{new_tag}"
    assert ImageReference.parse(retagged).repository == ref.repository
