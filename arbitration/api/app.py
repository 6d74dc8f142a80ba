"""`create_app(settings)`: the FastAPI application, every router mounted here and only here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import problems
from .docs import install_offline_docs
from .limits import SMALL_BODY_BYTES, BodyLimitMiddleware
from .routes import auth, cases, evidence, health, loans, pages
from .services import Services, build_services
from .settings import ApiSettings

__all__ = ["create_app", "API_TITLE"]

API_TITLE = "coledger arbitration evidence API"
UPLOAD_PATH = "/evidence/upload"
_DESCRIPTION = """\
Evidence of defaulted loans, anchored on the coledger chain, for the arbitration body.

Sign in: `POST /auth/challenge` with your member address, sign the returned `message` with your
member key (EIP-191 `personal_sign`), then `POST /auth/token`; send the token as
`Authorization: Bearer <token>`. Roles are read from the Consortium contract on every request.
For the browser case page (`GET /cases/{case_id}/page`), ask `/auth/token` with
`"set_cookie": true`: the token also comes as an HttpOnly, SameSite=Strict cookie that GET routes
accept, so the page's download links work; the cookie never authorizes a POST.

- **Arbitrator**: the cases assigned to it, the evidence and timeline of their loans, sealed
  content (with the data key wrapped for its reader key), bundles, and the case page.
- **Lead bank**: the cases it opened and the loans it leads (or opened a case on, or submitted
  evidence for); sealed content wrapped for it; uploads.
- **Auditor**: metadata of every case and loan, proofs — never content or bundles.

Anything the caller may not see answers 404 exactly as if it did not exist. Every content read
and bundle download is appended to the case's hash-chained access log, anchored on chain.
Errors are RFC 9457 `application/problem+json`.
"""


def create_app(settings: ApiSettings | None = None, services: Services | None = None) -> FastAPI:
    """The app for `settings` (or for an already built `services`, as the tests do).

    Background threads (index syncer, access-log anchorer) run for the app's lifespan.
    """
    if services is None:
        if settings is None:
            raise ValueError("create_app needs settings or services")
        services = build_services(settings)
    built = services

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        built.start()
        try:
            yield
        finally:
            built.stop()

    app = FastAPI(title=API_TITLE, description=_DESCRIPTION, version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    install_offline_docs(app, API_TITLE)
    app.state.services = built
    problems.install(app)
    upload_limit = built.settings.max_upload_bytes

    def limit_for(method: str, path: str) -> int:
        return upload_limit if (method, path) == ("POST", UPLOAD_PATH) else SMALL_BODY_BYTES

    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    for router in (health.router, auth.router, cases.router, loans.router, evidence.router, pages.router):
        app.include_router(router)
    return app
