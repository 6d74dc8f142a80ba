"""`run(settings, host, port)`: serve the API with uvicorn (what `coledger api start` calls).

Tuned for steady latency (issue 5's benchmark: p99 under 20 ms at 200 requests/s):
- uvicorn's own per-request access log line is off (CPU on every request, and what a reverse
  proxy logs anyway); the evidence access log (`access_log.py`, every content read and bundle
  download, hash-chained and anchored) is a different thing and always kept. uvicorn picks
  httptools and uvloop, which are dependencies (~15% less CPU per request than h11 + asyncio).
- Once started, everything allocated so far (web3, pydantic models, the app: ~10^6 objects) is
  collected once and frozen out of the cyclic garbage collector (`gc.freeze`), so the collections
  that requests trigger walk only what requests allocate: the 13-95 ms full-collection pauses that
  made the latency tail are gone.
"""

from __future__ import annotations

import gc
import socket
import sys

import uvicorn

from .app import create_app
from .settings import ApiSettings

__all__ = ["run", "settle_gc", "SANE_RECURSION_LIMIT"]

#: py_ecc (imported through web3) raises the recursion limit to 100,000, deeper than a thread's C
#: stack holds; py-evm's own figure is plenty for anything this process does.
SANE_RECURSION_LIMIT = 12_288


def settle_gc() -> None:
    """Collect, then move every surviving object to the permanent generation (never scanned again)."""
    gc.collect()
    gc.freeze()


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)  # the app's lifespan has started the services by now
        settle_gc()


def run(settings: ApiSettings, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve until interrupted. One process, one worker: the sign-in challenges and the index
    syncer live in this process (see `arbitration.api.security`)."""
    sys.setrecursionlimit(min(sys.getrecursionlimit(), SANE_RECURSION_LIMIT))
    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=False,
                            server_header=False, date_header=True, access_log=False)
    try:
        _Server(config).run()
    finally:
        app.state.services.close()
