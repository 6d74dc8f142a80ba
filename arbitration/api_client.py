"""A small client of the arbitration HTTP API for members who hold their key locally.

Why it exists: the API authenticates by a challenge signed with the member's key, and it serves
content sealed (ciphertext + the caller's wrapped data key), so an arbitrator needs a tool that
signs locally and decrypts locally. `fetch_verified_content` trusts the API for nothing: it
decrypts with the reader key derived from the member key, then checks the plaintext and the
ciphertext against the item's record in the one-item proof bundle, verifies that bundle's
inclusion proof offline and, given a chain RPC of the caller's choosing, checks its anchor.

Plain `urllib` so that the SDK side needs no HTTP library beyond the standard one.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from .bundle import parse_bundle, verify_bundle
from .errors import ArbitrationError
from .reader_keys import derive_reader_key
from .sealing import ContentDigests, WrappedKey, open_sealed

__all__ = ["ApiClient", "ApiError", "VerifiedContent"]

_TIMEOUT = 30.0


class ApiError(ArbitrationError):
    """The API answered with an error (its problem+json title and detail are in the message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True, slots=True)
class VerifiedContent:
    evidence_id: bytes
    plaintext: bytes
    media_type: str
    anchor_checked: bool  # the proof's anchor was found on the caller's chain RPC


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


class ApiClient:
    """Sign in as `account` and call the API at `base_url` (e.g. ``http://127.0.0.1:8600``)."""

    def __init__(self, base_url: str, account: LocalAccount) -> None:
        self.base_url = base_url.rstrip("/")
        self.account = account
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None,
                 auth: bool = True) -> tuple[bytes, str]:
        headers = {"Accept": "application/json, application/zip, */*"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:
                return resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                problem = json.loads(raw)
                message = f"{problem.get('title', '')}: {problem.get('detail', '')}".strip(": ")
            except ValueError:
                message = raw[:200].decode("utf-8", "replace")
            raise ApiError(e.code, message or e.reason) from e
        except urllib.error.URLError as e:
            raise ArbitrationError(f"cannot reach the API at {self.base_url}: {e.reason}") from e

    def token(self) -> str:
        """A bearer token: sign the API's single-use challenge with the member key (EIP-191)."""
        if self._token is None:
            raw, _ = self._request("POST", "/auth/challenge", {"address": self.account.address}, auth=False)
            challenge = json.loads(raw)
            signed = Account.sign_message(encode_defunct(text=challenge["message"]), self.account.key)
            raw, _ = self._request("POST", "/auth/token", {
                "address": self.account.address, "nonce": challenge["nonce"],
                "signature": "0x" + bytes(signed.signature).hex(),
            }, auth=False)
            self._token = str(json.loads(raw)["access_token"])
        return self._token

    def get(self, path: str) -> bytes:
        """GET `path` (must start with ``/``) with the token; the raw body."""
        if not path.startswith("/"):
            raise ArbitrationError(f"API path must start with '/': {path!r}")
        return self._request("GET", path)[0]

    def get_json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def fetch_verified_content(self, evidence_id: bytes, rpc_url: str | None = None) -> VerifiedContent:
        """Download, decrypt and verify one item (see the module docstring for what is checked)."""
        eid = "0x" + evidence_id.hex()
        sealed = self.get_json(f"/evidence/{eid}/content")
        bundle = parse_bundle(self.get(f"/evidence/{eid}/proof"))
        records = [it.record for it in bundle.items if it.record.evidence_id == evidence_id]
        if len(records) != 1:
            raise ArbitrationError(f"the proof bundle of {eid} does not carry exactly that item")
        record = records[0]
        blob = base64.b64decode(sealed["ciphertext"], validate=True)
        wk = sealed["wrapped_key"]
        wrapped = WrappedKey(reader=_hex(wk["reader"]), case_id=_hex(wk["case_id"]), sealed=_hex(wk["sealed"]))
        expected = ContentDigests(record.sha256, record.sm3, record.ciphertext_sha256)
        plaintext = open_sealed(blob, evidence_id, wrapped, derive_reader_key(bytes(self.account.key)), expected)
        verify_bundle(bundle, {evidence_id: plaintext}, ciphertexts={evidence_id: blob},
                      require_complete_chains=False)
        checked = False
        if rpc_url is not None:
            from .chain_check import check_anchors

            check_anchors(bundle, rpc_url)
            checked = True
        return VerifiedContent(evidence_id, plaintext, str(sealed.get("media_type", "")), checked)
