"""``imagebot demo``: imagebot end to end on one machine, no network.

A local registry (:mod:`.registry`, filled by :mod:`.pusher`) stands in for Docker Hub and
GHCR, a bare Git repository for the forge; the demo's repository is built from the real
manifests in ``examples/`` (package data, :mod:`.scenario`), then the installed ``imagebot``
CLI scans it and the demo prints the commit and explains it (:mod:`.run`, :mod:`.outcome`).
The command itself is :mod:`imagebot.cli.cmd_demo`, which calls :func:`.command.run_demo`.
"""
