"""``/docs`` and ``/redoc`` served offline: their JavaScript and CSS come from this API.

Why: FastAPI's default pages load Swagger UI and ReDoc from a CDN, so on a bank's network without
internet access ``/docs`` is a blank page. The assets ship in the ``fastapi-offline`` package
(Swagger UI bundle and CSS, ReDoc standalone); only its static files are used, mounted under
``/docs-assets`` and named in the pages FastAPI builds.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "install_offline_docs", "assets_dir"]

ASSETS_PATH = "/docs-assets"


def assets_dir() -> Path:
    """The packaged Swagger UI / ReDoc assets."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def install_offline_docs(app: FastAPI, title: str) -> None:
    """Mount the assets and the two documentation pages (the app is built with docs_url=None)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_dir()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{title} - Swagger UI",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{title} - ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PATH}/favicon.png", with_google_fonts=False)
