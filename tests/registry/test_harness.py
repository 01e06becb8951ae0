"""The harness itself: a missing registry fails loudly; the token server's key id."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.harness import RegistryUnavailable, libtrust_kid, start_registry
from tests.harness import registry as harness_registry


def test_a_missing_registry_binary_is_an_error_not_a_skip(tmp_path, monkeypatch):
    monkeypatch.setattr(harness_registry, "REGISTRY_BINARY", "docker-registry-not-installed")
    with pytest.raises(RegistryUnavailable, match="not installed"):
        start_registry(tmp_path)


def test_libtrust_key_id_is_twelve_groups_of_four():
    kid = libtrust_kid(ec.generate_private_key(ec.SECP256R1()).public_key())
    groups = kid.split(":")
    assert len(groups) == 12
    assert all(re.fullmatch(r"[A-Z2-7]{4}", g) for g in groups)  # base32 alphabet
