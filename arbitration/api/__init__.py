"""The arbitration evidence HTTP API (FastAPI): `create_app`, `ApiSettings`, `server.run`."""

from __future__ import annotations

from .app import create_app
from .settings import ApiSettings

__all__ = ["create_app", "ApiSettings"]
