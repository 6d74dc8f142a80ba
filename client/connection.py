"""Connect to any coledger chain backend (embedded node, anvil, Besu) through one JSON-RPC URL."""

from __future__ import annotations

from web3 import HTTPProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware

from client.errors import ConfigError

__all__ = ["connect", "DEFAULT_RPC_URL"]

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
_POST_MERGE_EXTRA_DATA_LIMIT = 32


def connect(url: str = DEFAULT_RPC_URL, timeout: float = 30.0) -> Web3:
    """A `Web3` for `url`, checked to answer, with the PoA middleware where the chain needs it.

    Besu QBFT (and clique) blocks carry validator seals in `extraData`, longer than the 32 bytes
    web3.py accepts by default; the PoA middleware is injected only when the genesis block shows
    that, so the embedded node and anvil keep web3.py's strict checks.
    """
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"unsupported RPC URL {url!r}: only http(s) JSON-RPC endpoints are supported")
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))
    try:
        genesis_extra = w3.provider.make_request("eth_getBlockByNumber", ["0x0", False])
    except OSError as exc:
        raise ConfigError(f"cannot reach the chain at {url}: {exc}") from exc
    result = genesis_extra.get("result") or {}
    extra = str(result.get("extraData", "0x"))
    if (len(extra) - 2) // 2 > _POST_MERGE_EXTRA_DATA_LIMIT:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3
