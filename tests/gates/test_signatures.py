"""Signatures: a candidate needs a valid cosign signature, by one of the verifier's keys, for
its exact digest and this image; anything else is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagebot.policy.gates import SignatureFact
from imagebot.registry.cosign import SIGNATURE_ANNOTATION, SIMPLE_SIGNING, signature_tag
from tests.gates.helpers import NOW, gated, resolve_at, sites
from tests.gates.signing import OCI_CONFIG, OCI_MANIFEST, ReferrersProxy, Signer, payload, sign
from tests.harness.proxies import FaultProxy
from tests.update.helpers import Bot, automated, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def signer() -> Signer:
    return Signer.ecdsa()


def trust(bot: Bot, tmp_path: Path, *signers: Signer) -> str:
    """A config whose verifier ``release`` trusts *signers*' public keys (its text)."""
    files = [s.write_public(tmp_path / f"key{i}.pub") for i, s in enumerate(signers)]
    listed = "".join(f"      - {f}\n" for f in files)
    text = f"verifiers:\n  release:\n    public_key_files:\n{listed}"
    bot.reconfigure(text)
    return text


def two_versions(bot: Bot, repo: str) -> tuple[str, str]:
    old = bot.registry.push(repo, ["1.0.0"], created=T0).digest
    new = bot.registry.push(repo, ["1.0.1"], created=T0.replace(day=2)).digest
    return old, new


def test_a_candidate_signed_with_an_ecdsa_key_passes(
    bot: Bot, repo_name: str, tmp_path: Path, signer: Signer
):
    trust(bot, tmp_path, signer)
    _, new = two_versions(bot, repo_name)
    sign(bot.registry, repo_name, new, signer)

    res = resolve_at(bot, gated(bot, repo_name, "1.0.0", verify="release"), NOW)

    assert res.new_tag == "1.0.1"
    check = res.gate_reports["1.0.1"].checks[0]
    assert check.gate == "signature"
    assert check.passed
    assert check.detail.startswith("signed by release (sha256:")


def test_a_candidate_signed_with_an_ed25519_key_passes(bot: Bot, repo_name: str, tmp_path: Path):
    signer = Signer.ed25519()
    trust(bot, tmp_path, signer)
    _, new = two_versions(bot, repo_name)
    sign(bot.registry, repo_name, new, signer)

    res = resolve_at(bot, gated(bot, repo_name, "1.0.0", verify="release"), NOW)

    assert res.new_tag == "1.0.1"


def test_an_unsigned_candidate_is_refused_and_an_older_signed_one_is_chosen(
    bot: Bot, repo_name: str, tmp_path: Path, signer: Signer
):
    trust(bot, tmp_path, signer)
    _, signed = two_versions(bot, repo_name)
    sign(bot.registry, repo_name, signed, signer)
    bot.registry.push(repo_name, ["1.0.2"], created=T0.replace(day=3))

    res = resolve_at(bot, gated(bot, repo_name, "1.0.0", verify="release"), NOW)

    assert res.new_tag == "1.0.1"
    assert res.gate_reports["1.0.2"].reason.startswith(
        "signature: unsigned: no cosign signature for sha256:"
    )


@pytest.mark.parametrize(
    ("forgery", "why"),
    [
        ("another digest", "signature does not match: it signs 'sha256:"),
        ("another image", "signature does not match: it signs the image "),
        ("another key", "signature does not match: no key of release made it"),
        ("a tampered payload", "signature does not match: no key of release made it"),
    ],
)
def test_a_signature_that_does_not_vouch_for_this_digest_and_image_is_refused(
    bot: Bot, repo_name: str, tmp_path: Path, signer: Signer, forgery: str, why: str
):
    trust(bot, tmp_path, signer)
    old, new = two_versions(bot, repo_name)
    if forgery == "another digest":
        sign(bot.registry, repo_name, new, signer, signed_digest=old)
    elif forgery == "another image":
        sign(bot.registry, repo_name, new, signer, reference=f"{bot.registry.host}/other/app")
    elif forgery == "another key":
        sign(bot.registry, repo_name, new, Signer.ecdsa())
    else:
        sign(bot.registry, repo_name, new, signer, tamper=True)

    res = resolve_at(bot, gated(bot, repo_name, "1.0.0", verify="release"), NOW)

    assert res.status == "up-to-date"
    assert res.gate_reports["1.0.1"].reason.startswith(why)


def test_any_key_of_the_verifier_may_have_signed(bot: Bot, repo_name: str, tmp_path: Path):
    first, second = Signer.ecdsa(), Signer.ed25519()
    trust(bot, tmp_path, first, second)
    _, new = two_versions(bot, repo_name)
    sign(bot.registry, repo_name, new, second)

    res = resolve_at(bot, gated(bot, repo_name, "1.0.0", verify="release"), NOW)

    assert res.new_tag == "1.0.1"


def test_a_valid_verdict_is_kept_by_digest_and_not_fetched_again(
    bot: Bot, repo_name: str, tmp_path: Path, signer: Signer
):
    config = trust(bot, tmp_path, signer)
    _, new = two_versions(bot, repo_name)
    sign(bot.registry, repo_name, new, signer)
    site = gated(bot, repo_name, "1.0.0", verify="release")
    resolve_at(bot, site, NOW)
    bot.reconfigure(config)  # a new process: only the store remembers
    requests = bot.runner.client.requests

    res = resolve_at(bot, site, NOW)

    assert res.new_tag == "1.0.1"
    assert res.gate_reports["1.0.1"].passed
    # the tag list and the candidate's HEAD: no signature manifest, payload or referrers
    assert requests[bot.registry.host] == 2
    assert (
        bot.store.valid_signature(f"{bot.registry.host}/{repo_name}", new, _fingerprint(bot))
        is not None
    )


def test_a_verifier_the_config_does_not_define_is_an_error_naming_it(bot: Bot, repo_name: str):
    two_versions(bot, repo_name)

    res = resolve_at(bot, gated(bot, repo_name, "1.0.0", verify="nobody"), NOW)

    assert res.status == "error"
    assert "verify names the verifier 'nobody', which the config does not define" in res.reason


def test_a_signature_verdict_is_a_fact_the_gate_only_reads():
    from imagebot.policy.gates import Gates, TagFacts, evaluate

    facts = TagFacts("1.0.1", signature=SignatureFact(True, "signed by k", "k"))

    assert evaluate(Gates(verifier="release"), facts, now=NOW).passed


def _fingerprint(bot: Bot) -> str:
    from imagebot.update.gating import FactFinder

    return FactFinder(bot.runner.client, bot.config, NOW).verifier("release").fingerprint


def test_a_signature_listed_only_by_the_referrers_api_counts(
    bot: Bot, repo_name: str, tmp_path: Path, signer: Signer
):
    with ReferrersProxy(bot.registry.host) as proxy:
        trust(bot, tmp_path, signer)
        _, new = two_versions(bot, repo_name)
        sign(
            bot.registry, repo_name, new, signer, reference=f"{proxy.host}/{repo_name}",
            referrers=proxy,
        )  # fmt: skip
        image = f"{proxy.host}/{repo_name}:1.0.0"
        notes = {**automated("semver:^1.0"), "imagebot.io/verify.app": "release"}

        res = resolve_at(bot, sites(deployment("web", image, annotations=notes)), NOW)

    assert res.new_tag == "1.0.1"
    assert proxy.requests_to(r"/referrers/sha256:")


def test_a_moved_digest_of_a_pinned_tag_must_be_signed_too(
    bot: Bot, repo_name: str, tmp_path: Path, signer: Signer
):
    trust(bot, tmp_path, signer)
    old = bot.registry.push(repo_name, ["1.0.0"], created=T0).digest
    sign(bot.registry, repo_name, old, signer)
    new = bot.registry.push(repo_name, ["1.0.0"], created=T0.replace(day=2)).digest
    notes = {**automated("semver:^1.0"), "imagebot.io/verify.app": "release"}
    site = sites(deployment("web", f"{bot.image(repo_name, '1.0.0')}@{old}", annotations=notes))

    unsigned = resolve_at(bot, site, NOW)
    sign(bot.registry, repo_name, new, signer)
    signed = resolve_at(bot, site, NOW)

    assert unsigned.status == "up-to-date"
    assert "the move is held: signature: unsigned" in unsigned.reason
    assert signed.status == "update"
    assert signed.new_digest == new


def test_a_signature_manifest_with_endless_layers_costs_at_most_twenty_payloads(
    bot: Bot, repo_name: str, tmp_path: Path, signer: Signer
):
    trust(bot, tmp_path, signer)
    _, new = two_versions(bot, repo_name)
    with FaultProxy(bot.registry.host) as proxy:
        body = payload(f"{proxy.host}/{repo_name}", new)
        forged = base64.b64encode(Signer.ecdsa().sign_bytes(body)).decode()
        layer = bot.registry.pusher.upload_blob(repo_name, body)
        huge = {"mediaType": SIMPLE_SIGNING, "digest": layer, "size": 10**9,
                "annotations": {SIGNATURE_ANNOTATION: forged}}  # fmt: skip
        normal = {**huge, "size": len(body)}
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": layer, "size": len(body)},
            "layers": [huge] + [normal] * 50,
        }
        bot.registry.pusher.put_manifest(
            repo_name, signature_tag(new), json.dumps(manifest).encode(), OCI_MANIFEST
        )
        notes = {**automated("semver:^1.0"), "imagebot.io/verify.app": "release"}
        site = sites(deployment("web", f"{proxy.host}/{repo_name}:1.0.0", annotations=notes))

        res = resolve_at(bot, site, NOW)

    assert res.new_tag is None
    assert "a payload is over 65536 bytes (not fetched)" in res.reason
    assert "no key of release made it" in res.reason
    assert len(proxy.requests_to(f"/blobs/{layer}")) == 19  # 20 looked at, one too large
