"""Fixtures of the API tests: one evidence world per session, in-process apps over it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from web3 import Web3

from arbitration.api.app import create_app
from arbitration.api.settings import ApiSettings
from tests.api._world import World, build_world, sign_in_message


@pytest.fixture(scope="session")
def world(w3: Web3, chain: Any, make_account: Callable[..., LocalAccount]) -> Iterator[World]:
    root = Path(tempfile.mkdtemp(prefix="coledger-api-tests-"))
    try:
        yield build_world(w3, chain, make_account, root, "main")
    finally:  # keystores and evidence of the test world do not outlive the run
        shutil.rmtree(root, ignore_errors=True)


def settings_for(world: World, tag: str, signer: bool = False, **overrides: Any) -> ApiSettings:
    env = world.api_env(tag, signer)
    values: dict[str, Any] = {k.removeprefix("COLEDGER_API_").lower(): v for k, v in env.items()}
    values.update(overrides)
    return ApiSettings(**values)


@pytest.fixture(scope="module")
def client(world: World, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    tag = request.module.__name__.rsplit(".", 1)[-1]
    app = create_app(settings_for(world, tag))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.services.close()


def login(client: TestClient, account: LocalAccount, set_cookie: bool = False) -> str:
    c = client.post("/auth/challenge", json={"address": account.address})
    assert c.status_code == 200, c.text
    body = c.json()
    r = client.post("/auth/token", json={"address": account.address, "nonce": body["nonce"],
                                         "signature": sign_in_message(account, body["message"]),
                                         "set_cookie": set_cookie})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
