"""``imagebot.io/approve.<container>: "true"`` (and ``approve: true`` in an imagebot
ImagePolicy) marks a container whose updates wait for a person."""

from __future__ import annotations

from imagebot.manifests import scan_bytes

DEPLOYMENT = b"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
  annotations:
    imagebot.io/automated: "true"
    imagebot.io/approve.%s: "true"
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0
        - name: side
          image: ghcr.io/org/side:1.0.0
"""


def test_the_annotation_marks_only_its_container():
    found = scan_bytes(DEPLOYMENT % b"app")

    approve = {s.container: s.approve for s in found.sites}
    assert approve == {"app": True, "side": False}
    assert not any(s.error for s in found.sites)


def test_an_approve_annotation_naming_no_container_is_an_error():
    found = scan_bytes(DEPLOYMENT % b"nope")

    assert all(s.error and "approve.nope" in s.error for s in found.sites)


def test_a_policy_file_can_ask_for_approval():
    text = b"""\
apiVersion: imagebot.io/v1
kind: ImagePolicy
metadata:
  name: app
  namespace: flux-system
spec:
  policy: semver:~1.0
  approve: true
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
"""

    (site,) = scan_bytes(text).sites

    assert site.error is None
    assert site.approve is True
