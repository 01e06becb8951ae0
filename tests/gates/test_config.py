"""The gates' configuration is checked where a mistake would otherwise surface late: the
schema (gates:, verifiers:) and preflight (the keys themselves)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from imagebot.config import parse_config
from imagebot.errors import ConfigError
from imagebot.preflight import preflight
from tests.gates.signing import Signer


def public_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def verifier_config(tmp_path: Path, pem: str) -> str:
    (tmp_path / "k.pub").write_text(pem)
    return f"verifiers:\n  release:\n    public_key_files: [{tmp_path / 'k.pub'}]\n"


def test_usable_keys_pass_preflight(tmp_path: Path):
    for signer in (Signer.ecdsa(), Signer.ed25519()):
        assert preflight(parse_config(verifier_config(tmp_path, signer.public_pem()))) == []


@pytest.mark.parametrize(
    ("pem", "why"),
    [
        ("not a key", "not a PEM public key"),
        (public_pem(ec.generate_private_key(ec.SECP384R1())), "cosign keys are P-256"),
        (public_pem(rsa.generate_private_key(65537, 2048)), "expected ECDSA P-256 or Ed25519"),
    ],
    ids=["garbage", "p384", "rsa"],
)
def test_a_key_cosign_gates_cannot_use_is_a_preflight_problem(tmp_path: Path, pem: str, why: str):
    (problem,) = preflight(parse_config(verifier_config(tmp_path, pem)))

    assert "verifiers.release" in str(problem)
    assert why in str(problem)


def test_a_missing_key_file_is_a_preflight_problem(tmp_path: Path):
    config = parse_config(f"verifiers:\n  release:\n    public_key_files: [{tmp_path}/no.pub]\n")

    (problem,) = preflight(config)

    assert "cannot read it" in str(problem)


def test_the_default_verifier_must_be_defined():
    with pytest.raises(ConfigError, match="verify: no verifier 'release'"):
        parse_config("gates:\n  verify: release\n")


def test_a_bad_default_min_age_names_its_key():
    with pytest.raises(ConfigError, match="min_age") as caught:
        parse_config("gates:\n  min_age: soon\n")

    assert "is not a duration" in str(caught.value)
