"""Schemathesis over the OpenAPI schema, in process: no generated request may get a 5xx.

Every operation gets positive (schema-conforming) and negative (schema-violating) examples, each
sent without credentials and with the tokens of an arbitrator, a lead bank and an auditor, so the
generated ids also reach the visibility checks and the index. Bounded: a few dozen examples per
operation (the whole module runs in well under a minute).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.python import asgi

from arbitration.api.app import create_app
from tests.api._world import World, sign_in_message
from tests.api.conftest import bearer, settings_for

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzz_app(world: World) -> Iterator[tuple[Any, Any, list[dict[str, str]]]]:
    """The app, schemathesis' in-process client (it runs the app's lifespan once), and headers:
    none, then the bearer tokens of an arbitrator, a lead bank and an auditor."""
    app = create_app(settings_for(world, "fuzz"))
    with asgi.get_client(app) as session:
        tokens = [bearer(_login(session, a)) for a in (world.arbitrator.account, world.env.lead.account,
                                                       world.env.auditor.account)]
        yield app, session, [{}, *tokens]
    app.state.services.close()


def _login(session: Any, account: Any) -> str:
    c = session.post("/auth/challenge", json={"address": account.address}).json()
    r = session.post("/auth/token", json={"address": account.address, "nonce": c["nonce"],
                                          "signature": sign_in_message(account, c["message"])})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _operations() -> list[str]:
    """"METHOD /path" of every API route, read from the routers (no app or chain needed)."""
    from fastapi.routing import APIRoute

    from arbitration.api.routes import auth, cases, evidence, health, loans, pages

    routes = [r for m in (auth, cases, evidence, health, loans, pages) for r in m.router.routes]
    return sorted(f"{m} {r.path}" for r in routes if isinstance(r, APIRoute) for m in r.methods)


@pytest.fixture(scope="module")
def api_schema(fuzz_app: tuple[Any, Any, list[dict[str, str]]]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app[0])


# schemathesis.pytest.from_fixture relies on a pytest private attribute gone in pytest 9, so each
# operation's strategies are driven by hypothesis directly.
@pytest.mark.parametrize("label", _operations())
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_generated_request_gets_a_server_error(
    label: str, mode: GenerationMode, api_schema: Any, fuzz_app: tuple[Any, Any, list[dict[str, str]]]
) -> None:
    _, session, credentials = fuzz_app
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label

    @given(operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any) -> None:
        for headers in credentials:
            response = case.call(session=session, headers=headers)
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                                 response.text)
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
                assert content_type[0] == "application/problem+json", response.text

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            pytest.skip(f"{label} has no input a negative example could violate")
        raise
