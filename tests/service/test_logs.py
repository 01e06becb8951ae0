"""Log lines: updates carry structured fields; credentials never appear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from imagebot.cli.common import HumanFormatter, JsonFormatter
from imagebot.service.logs import MASK, RedactingFilter, Redactor, install_redaction, log_update
from imagebot.service.types import AppliedUpdate


class Capture:
    def __init__(self, formatter: logging.Formatter, redactor: Redactor) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(formatter)
        self.logger = logging.getLogger(f"imagebot.test.logs.{id(self)}")
        self.logger.handlers[:] = [self.handler]
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        install_redaction(self.logger, redactor)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.text.splitlines()]


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor()
    r.register("hunter2-registry-password", "s3cr3t-webhook-token")
    return r


@pytest.fixture
def json_log(redactor: Redactor) -> Iterator[Capture]:
    capture = Capture(JsonFormatter(), redactor)
    yield capture
    capture.logger.handlers.clear()


@pytest.fixture
def human_log(redactor: Redactor) -> Iterator[Capture]:
    capture = Capture(HumanFormatter(), redactor)
    yield capture
    capture.logger.handlers.clear()


def test_update_line_names_repo_workload_container_and_tags(json_log: Capture) -> None:
    update = AppliedUpdate(
        "Deployment default/web", "app", "docker.io/library/nginx", "1.25.1", "1.25.2", "web.yaml"
    )
    log_update(json_log.logger, "gitops", update, commit="0123456789abcdef0123")
    (line,) = json_log.lines()
    assert line["message"] == (
        "gitops: updated Deployment default/web container app image docker.io/library/nginx "
        "from 1.25.1 to 1.25.2 (commit 0123456789ab)"
    )
    assert {k: line[k] for k in ("repo", "workload", "container", "old_tag", "new_tag")} == {
        "repo": "gitops",
        "workload": "Deployment default/web",
        "container": "app",
        "old_tag": "1.25.1",
        "new_tag": "1.25.2",
    }
    assert line["image"] == "docker.io/library/nginx"
    assert line["file"] == "web.yaml"


def test_registered_secret_in_message_and_args_is_masked(json_log: Capture) -> None:
    json_log.logger.warning(
        "login with hunter2-registry-password failed for %s", "s3cr3t-webhook-token"
    )
    (line,) = json_log.lines()
    assert line["message"] == f"login with {MASK} failed for {MASK}"


def test_userinfo_in_urls_is_masked(human_log: Capture) -> None:
    human_log.logger.error("cannot fetch https://bot:Pa55w0rd@git.example.com/org/repo.git")
    assert "Pa55w0rd" not in human_log.text
    assert "bot:" not in human_log.text
    assert f"https://{MASK}@git.example.com/org/repo.git" in human_log.text


def test_token_query_parameters_are_masked(human_log: Capture) -> None:
    human_log.logger.info("POST /hooks/hub?token=abcdef123456&x=1")
    assert "abcdef123456" not in human_log.text
    assert f"?token={MASK}&x=1" in human_log.text


def test_bearer_credentials_are_masked(human_log: Capture) -> None:
    human_log.logger.info("sent Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.payload.sig")
    assert "eyJhbGci" not in human_log.text


def test_secret_in_an_exception_is_masked_in_json_and_human_logs(
    json_log: Capture, human_log: Capture
) -> None:
    for capture in (json_log, human_log):
        try:
            raise RuntimeError("push to https://x:hunter2-registry-password@h/r failed")
        except RuntimeError:
            capture.logger.exception("cycle crashed")
        assert "hunter2" not in capture.text
        assert "RuntimeError" in capture.text
        assert "Traceback" in capture.text


def test_secret_in_extra_fields_is_masked(json_log: Capture) -> None:
    json_log.logger.info(
        "request",
        extra={
            "url": "https://h/?token=s3cr3t-webhook-token",
            "hosts": ["a", "s3cr3t-webhook-token"],
        },
    )
    (line,) = json_log.lines()
    assert "s3cr3t" not in json.dumps(line)
    assert line["hosts"] == ["a", MASK]


def test_a_secret_json_escapes_differently_is_still_masked() -> None:
    redactor = Redactor()
    redactor.register('quote"and\\slash')
    capture = Capture(JsonFormatter(), redactor)
    capture.logger.info("value %s", 'quote"and\\slash')
    assert "quote" not in capture.text
    capture.logger.handlers.clear()


def test_install_redaction_is_idempotent(redactor: Redactor) -> None:
    capture = Capture(HumanFormatter(), redactor)
    install_redaction(capture.logger, redactor)
    assert sum(isinstance(f, RedactingFilter) for f in capture.handler.filters) == 1
    capture.logger.handlers.clear()


@settings(max_examples=80, deadline=None)
@given(
    secret=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=6, max_size=40
    ),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_a_registered_secret_never_reaches_the_output(secret: str, before: str, after: str) -> None:
    assume("*" not in secret)  # a secret made of mask characters could re-form around a mask
    redactor = Redactor()
    redactor.register(secret)
    for formatter in (JsonFormatter(), HumanFormatter()):
        capture = Capture(formatter, redactor)
        capture.logger.warning("%s%s%s", before, secret, after)
        output = capture.text
        if isinstance(formatter, JsonFormatter):
            output = json.loads(output)["message"]
        assert secret not in output
        capture.logger.handlers.clear()
