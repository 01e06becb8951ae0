"""A cosign-format signer for tests, built from cosign's documented signature format
(specs/SIGNATURE_SPEC.md in sigstore/cosign): a simple-signing payload naming the image and
its manifest digest, signed with the key, stored as a layer of an OCI manifest tagged
``sha256-<digest>.sig`` with the base64 signature in the layer's
``dev.cosignproject.cosign/signature`` annotation."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from imagebot.registry.cosign import (
    SIGNATURE_ANNOTATION,
    SIGNATURE_ARTIFACT,
    SIMPLE_SIGNING,
    signature_tag,
)
from tests.harness import RegistryServer
from tests.harness.proxies import LoopbackProxy, Reply
from tests.harness.pusher import sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass
class Signer:
    key: PrivateKey

    @classmethod
    def ecdsa(cls) -> Signer:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def ed25519(cls) -> Signer:
        return cls(ed25519.Ed25519PrivateKey.generate())

    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def write_public(self, path: Path) -> Path:
        path.write_text(self.public_pem())
        return path

    def sign_bytes(self, payload: bytes) -> bytes:
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(payload)
        return self.key.sign(payload, ec.ECDSA(hashes.SHA256()))


def payload(reference: str, digest: str) -> bytes:
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": reference},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        },
        separators=(",", ":"),
    ).encode()


def sign(
    registry: RegistryServer,
    repository: str,
    digest: str,
    signer: Signer,
    *,
    reference: str | None = None,
    signed_digest: str | None = None,
    tamper: bool = False,
    referrers: ReferrersProxy | None = None,
) -> str:
    """Store a cosign signature of *digest* in *repository*; returns where it is (the
    signature tag, or the signature manifest's digest when given to *referrers*).

    *reference* / *signed_digest* put other values in the payload (a signature copied from
    another image or digest); *tamper* changes the payload after it was signed; *referrers*
    stores it untagged, as an OCI 1.1 referrer of *digest* that only the proxy lists."""
    body = payload(reference or f"{registry.host}/{repository}", signed_digest or digest)
    signature = base64.b64encode(signer.sign_bytes(body)).decode()
    if tamper:
        body = body.replace(b'"optional":null', b'"optional":{"x":1}')
    pusher = registry.pusher
    layer = pusher.upload_blob(repository, body)
    config = b'{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}'
    config_digest = pusher.upload_blob(repository, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [
            {
                "mediaType": SIMPLE_SIGNING,
                "digest": layer,
                "size": len(body),
                "annotations": {SIGNATURE_ANNOTATION: signature},
            }
        ],
    }
    if referrers is not None:
        data = json.dumps(manifest).encode()
        stored = pusher.put_manifest(repository, sha256(data), data, OCI_MANIFEST)
        referrers.refer(
            repository,
            digest,
            {
                "mediaType": OCI_MANIFEST,
                "digest": stored,
                "size": len(data),
                "artifactType": SIGNATURE_ARTIFACT,
            },
        )
        return stored
    tag = signature_tag(digest)
    pusher.put_manifest(repository, tag, json.dumps(manifest).encode(), OCI_MANIFEST)
    return tag


class ReferrersProxy(LoopbackProxy):
    """Distribution 2.8 has no OCI 1.1 referrers API: this proxy in front of it answers
    ``GET /v2/<name>/referrers/<digest>`` from what :meth:`refer` registered (an image index
    of descriptors, filtered by ``artifactType`` as the distribution spec says) and forwards
    everything else."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.referrers: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def refer(self, repository: str, subject: str, descriptor: dict[str, Any]) -> None:
        self.referrers.setdefault((repository, subject), []).append(descriptor)

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> Reply | None:
        parts = urlsplit(handler.path)
        match = re.fullmatch(r"/v2/(.+)/referrers/(sha256:[0-9a-f]{64})", parts.path)
        if handler.command != "GET" or not match:
            return None
        wanted = parse_qs(parts.query).get("artifactType", [None])[0]
        listed = [
            d
            for d in self.referrers.get((match.group(1), match.group(2)), [])
            if wanted is None or d.get("artifactType") == wanted
        ]
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}
        return Reply(200, {"Content-Type": OCI_INDEX}, json.dumps(index).encode())
