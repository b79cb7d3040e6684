"""Property-based fuzzing of the API against its own /openapi.json.

Schemathesis generates valid and invalid requests for every operation (and
methods the document does not list) and checks each answer: never a 5xx, a
status code the document declares, a body and headers that match it, a 401
without a token where one is required, invalid input refused, 405 with the
right `Allow`. A valid bearer token and a few posts (the fuzzer's own, a
stranger's, drafts, a like, comments, follows both ways) are there so that the
authenticated routes get past the 401 and sometimes find what they ask for.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from tests.support.api import Caller, sign_up, write

MAX_EXAMPLES = 25  # per operation and phase: the whole run takes seconds
OPERATIONS = 42  # every operation the API has
cases: Counter[str] = Counter()  # operation → requests sent

NOT_CHECKED = [
    # Some rules cannot be said in JSON Schema (an email's domain, a password
    # unlike the username, a name already taken): a schema-valid request may
    # rightly get 409 or 422.
    schemathesis.checks.positive_data_acceptance,
]


# A multipart form's text field is text on the wire, whatever the fuzzer
# meant: an object it sends as `alt` arrives as its JSON, a string the route
# rightly takes. (Two `alt` parts, the wire's array, are refused:
# tests/test_pictures.py.)
TEXT_ON_THE_WIRE = {"POST /api/media"}


class CaseCountReport:
    """Prints how many requests the fuzzer sent, in pytest's final summary."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if cases:
            terminalreporter.write_line(
                f"schemathesis: {cases.total()} requests over {len(cases)} operations "
                f"(max_examples={MAX_EXAMPLES})"
            )


@pytest.fixture(scope="module", autouse=True)
def report_case_count(request: pytest.FixtureRequest) -> None:
    request.config.pluginmanager.register(CaseCountReport(), "agora-fuzz-case-count")


@pytest.fixture(autouse=True)
def nodeid_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32.5's from_fixture reads and rewrites `node._nodeid`, which
    # pytest 9.2 no longer has (it keeps `_id`); give it the attribute to use.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture
def fuzzer(client: TestClient) -> Caller:
    fuzzer = sign_up(client, "fuzzer")
    stranger = sign_up(client, "stranger")
    for owner in (fuzzer, stranger):
        write(client, owner, title="Published")
        write(client, owner, title="Draft", published=False)
    client.post("/api/vote", json={"post_id": 1, "dir": 1}, headers=fuzzer.headers)
    # Someone to follow and be followed by, comments, and notifications to read.
    client.put(f"/api/users/me/following/{stranger.id}", headers=fuzzer.headers)
    client.put(f"/api/users/me/following/{fuzzer.id}", headers=stranger.headers)
    for caller in (fuzzer, stranger):
        client.post("/api/posts/1/comments", json={"content": "A comment"}, headers=caller.headers)
    return fuzzer


@pytest.fixture
def api_schema(app: FastAPI, fuzzer: Caller) -> Any:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)

    @loaded.auth()
    class FuzzerToken:
        def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
            return fuzzer.token

        def set(self, case: schemathesis.Case, token: str, ctx: schemathesis.AuthContext) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


def needs_token(case: schemathesis.Case) -> bool:
    return case.operation.definition.raw.get("security") == [{"bearer": []}]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,  # bcrypt on /api/users and /api/login is slow by design
    database=None,  # keep no failing examples in .hypothesis/: each run explores afresh
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_honours_its_own_schema(case: schemathesis.Case, client: TestClient) -> None:
    cases[case.operation.label] += 1
    excluded = list(NOT_CHECKED)
    if case.operation.label in TEXT_ON_THE_WIRE:
        excluded.append(schemathesis.checks.negative_data_rejection)
    response = case.call_and_validate(excluded_checks=excluded)
    if response.status_code < 300 and needs_token(case):
        # Schemathesis probes auth only for apiKey/http schemes, not oauth2:
        # send the same request again without the token.
        request = response.request
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        anonymous = client.request(
            str(request.method), str(request.url), content=request.body, headers=headers
        )
        assert anonymous.status_code == 401, f"{case.operation.label} works without a token"


def test_the_fuzzer_reached_every_operation() -> None:
    # Runs after the fuzz test (file order): a schema error or a filter that
    # silently skipped operations would otherwise pass unnoticed.
    assert len(cases) == OPERATIONS, sorted(cases)
