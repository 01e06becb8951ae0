"""cosign signatures: read them from the registry and verify them with public keys.

cosign stores the signatures of the manifest ``sha256:abc...`` as an OCI image manifest
tagged ``sha256-abc....sig`` in the same repository (tag-based discovery, the one every
implementation supports), or, in its OCI 1.1 mode, as a referrer of the manifest with the
artifact type :data:`SIGNATURE_ARTIFACT`. Each layer of that manifest is one signature:

- the layer blob is the signed payload, Red Hat's "simple signing" JSON
  (``application/vnd.dev.cosign.simplesigning.v1+json``)::

      {"critical": {"identity": {"docker-reference": "ghcr.io/org/app"},
                    "image": {"docker-manifest-digest": "sha256:abc..."},
                    "type": "cosign container image signature"},
       "optional": {...}}

- the layer's annotation ``dev.cosignproject.cosign/signature`` is the base64 signature of
  the payload bytes: ECDSA P-256 over their SHA-256 (DER encoded), or Ed25519 over the bytes.

A signature counts only when it verifies with one of the verifier's keys *and* its payload
names exactly the candidate's digest and this image (cosign itself does not compare the
reference; we do, so a signature copied from another image is refused). Everything read is
hostile: every blob is checked against its digest and capped, the payload JSON must not
repeat a key, and at most :data:`MAX_SIGNATURES` layers are looked at.

Verification uses the ``cryptography`` package (the only dependency added for the gates):
signature schemes are not something to write by hand.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from imagebot.errors import ConfigError, ImagebotError, NotFound
from imagebot.policy.gates import SignatureFact
from imagebot.reference import ImageReference

log = logging.getLogger(__name__)

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
COSIGN_TYPE = "cosign container image signature"
#: Signatures (layers) looked at per candidate; more is a registry trying to wear us out.
MAX_SIGNATURES = 20
#: A simple-signing payload is a few hundred bytes; this leaves room for optional claims.
MAX_PAYLOAD = 64 * 1024

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True)
class VerifierKey:
    """One public key: ``name`` says which (the verifier's name and the key's fingerprint)."""

    name: str
    key: PublicKey
    fingerprint: str

    def verifies(self, payload: bytes, signature: bytes) -> bool:
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, payload)
            else:
                self.key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Verifier:
    """A named set of keys; a signature by any of them counts."""

    name: str
    keys: tuple[VerifierKey, ...]

    @property
    def fingerprint(self) -> str:
        """Stable across restarts: the cache key of verdicts made with these keys."""
        joined = ",".join(sorted(k.fingerprint for k in self.keys))
        return hashlib.sha256(joined.encode()).hexdigest()


def load_key(pem: str | bytes, *, name: str, where: str) -> VerifierKey:
    """A PEM public key (ECDSA P-256 or Ed25519); :class:`ConfigError` naming *where*."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: not a PEM public key ({exc})") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ConfigError(
                f"{where}: an ECDSA key on {key.curve.name}; cosign keys are P-256 (secp256r1)"
            )
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigError(
            f"{where}: a {type(key).__name__.lstrip('_')}; expected ECDSA P-256 or Ed25519"
        )
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fingerprint = "sha256:" + hashlib.sha256(der).hexdigest()
    return VerifierKey(f"{name} ({fingerprint[:19]})", key, fingerprint)


def load_verifier(
    name: str, public_keys: Sequence[str], public_key_files: Sequence[str], *, base: Path
) -> Verifier:
    """The keys of the config's ``verifiers.<name>`` (files relative to *base*)."""
    keys = [
        load_key(text, name=name, where=f"verifiers.{name}.public_keys[{i}]")
        for i, text in enumerate(public_keys)
    ]
    for i, file in enumerate(public_key_files):
        path = Path(file).expanduser()
        path = path if path.is_absolute() else base / path
        where = f"verifiers.{name}.public_key_files[{i}] ({path})"
        try:
            data = path.read_bytes()[: MAX_PAYLOAD + 1]
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read it: {exc.strerror or exc}") from None
        keys.append(load_key(data, name=name, where=where))
    return Verifier(name, tuple(keys))


def signature_tag(digest: str) -> str:
    """``sha256:abc`` -> ``sha256-abc.sig``: where cosign keeps a manifest's signatures."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}.sig"


def payload_problem(payload: bytes, digest: str, image: ImageReference) -> str | None:
    """Why *payload* does not vouch for *digest* of *image* (None: it does)."""
    if len(payload) > MAX_PAYLOAD:
        return f"the payload is over {MAX_PAYLOAD} bytes"
    try:
        data = json.loads(payload, object_pairs_hook=_no_repeats)
    except (ValueError, RecursionError) as exc:
        return f"the payload is not JSON ({str(exc)[:80]})"
    critical = _field(data, "critical")
    signed_digest = _field(_field(critical, "image"), "docker-manifest-digest")
    reference = _field(_field(critical, "identity"), "docker-reference")
    kind = _field(critical, "type")
    if kind != COSIGN_TYPE:
        return f"the payload's critical.type is {_show(kind)}, not {COSIGN_TYPE!r}"
    if signed_digest != digest:
        return f"it signs {_show(signed_digest)}, not {digest}"
    if not isinstance(reference, str):
        return "the payload names no docker-reference"
    try:
        named = ImageReference.parse(reference)
    except ImagebotError:
        return f"the payload's docker-reference {_show(reference)} is not an image name"
    if named.repository != image.repository:
        return f"it signs the image {named.repository}, not {image.repository}"
    return None


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        folded = key.lower()  # cosign (Go) matches these keys regardless of case
        if folded in seen:
            raise ValueError(f"the key {key!r} appears twice")
        seen[folded] = value
    return seen


def _field(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None


def _show(value: Any) -> str:
    return repr(value)[:100] if value is not None else "missing"


@dataclass(frozen=True)
class _Signature:
    payload_digest: str
    signature: str
    size: int | None = None


def signatures_in(manifest: dict[str, Any]) -> list[_Signature]:
    """The simple-signing layers of a cosign signature manifest (at most MAX_SIGNATURES)."""
    layers = manifest.get("layers")
    found: list[_Signature] = []
    for layer in layers if isinstance(layers, list) else []:
        if not isinstance(layer, dict) or layer.get("mediaType") != SIMPLE_SIGNING:
            continue
        annotations = layer.get("annotations")
        signature = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
        digest = layer.get("digest")
        size = layer.get("size")
        if isinstance(signature, str) and isinstance(digest, str):
            found.append(_Signature(digest, signature, size if isinstance(size, int) else None))
        if len(found) >= MAX_SIGNATURES:
            break
    return found


class SignatureReader:
    """Verifies candidates' signatures through a registry client; valid verdicts are kept
    in the store by (image, digest, keys), so a digest is verified once."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.store = getattr(client, "store", None)
        self._seen: dict[tuple[str, str, str], SignatureFact] = {}

    async def check(self, image: ImageReference, digest: str, verifier: Verifier) -> SignatureFact:
        """The verdict on *digest* of *image*; registry errors propagate (the gate then
        cannot decide and rejects)."""
        key = (image.repository, digest, verifier.fingerprint)
        if key in self._seen:
            return self._seen[key]
        if self.store is not None:
            cached = self.store.valid_signature(*key)
            if cached is not None:
                return SignatureFact(True, cached[1], cached[0])
        fact = await self._check(image, digest, verifier)
        self._seen[key] = fact
        if fact.valid and fact.signer and self.store is not None:
            self.store.put_valid_signature(*key, fact.signer, fact.detail)
        return fact

    async def _check(self, image: ImageReference, digest: str, verifier: Verifier) -> SignatureFact:
        manifests = await self._signature_manifests(image, digest)
        if not manifests:
            return SignatureFact(False, f"unsigned: no cosign signature for {digest[:19]}...")
        problems: list[str] = []
        # At most MAX_SIGNATURES payloads in all: a registry cannot make one check cost more.
        every = [sig for manifest in manifests for sig in signatures_in(manifest)]
        for sig in every[:MAX_SIGNATURES]:
            found = await self._verify_one(image, digest, sig, verifier)
            if isinstance(found, VerifierKey):
                return SignatureFact(True, f"signed by {found.name} ({verifier.name})", found.name)
            problems.append(found)
        if not problems:
            return SignatureFact(False, "unsigned: the signature manifest holds no signature")
        shown = "; ".join(dict.fromkeys(problems))
        return SignatureFact(False, f"signature does not match: {shown}")

    async def _verify_one(
        self, image: ImageReference, digest: str, sig: _Signature, verifier: Verifier
    ) -> str | VerifierKey:
        """The key that made a valid signature, or why this one does not count."""
        try:
            raw = base64.b64decode(sig.signature, validate=True)
        except (binascii.Error, ValueError):
            return "a signature is not base64"
        if sig.size is not None and sig.size > MAX_PAYLOAD:
            return f"a payload is over {MAX_PAYLOAD} bytes (not fetched)"
        payload = await self.client.blob(image, sig.payload_digest)
        signer = next((k for k in verifier.keys if k.verifies(payload, raw)), None)
        if signer is None:
            return f"no key of {verifier.name} made it"
        problem = payload_problem(payload, digest, image)
        return problem if problem is not None else signer

    async def _signature_manifests(
        self, image: ImageReference, digest: str
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        try:
            sig_digest = await self.client.get_digest(image, signature_tag(digest))
        except NotFound:
            sig_digest = None
        if sig_digest is not None:
            found.append((await self.client.manifest(image, sig_digest))[1])
        referrers = await self.client.referrers(image, digest, SIGNATURE_ARTIFACT)
        for entry in (referrers or [])[:MAX_SIGNATURES]:
            child = entry.get("digest")
            if isinstance(child, str) and child != sig_digest:
                found.append((await self.client.manifest(image, child))[1])
        return found
