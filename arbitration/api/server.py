"""`run(settings, host, port)`: serve the API with uvicorn (what `coledger api start` calls)."""

from __future__ import annotations

import uvicorn

from .app import create_app
from .settings import ApiSettings

__all__ = ["run"]


def run(settings: ApiSettings, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve until interrupted. One process, one worker: the sign-in challenges and the index
    syncer live in this process (see `arbitration.api.security`)."""
    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=False,
                            server_header=False, date_header=True)
    try:
        uvicorn.Server(config).run()
    finally:
        app.state.services.close()
