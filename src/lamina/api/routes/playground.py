"""``/playground``: a single-page web UI over the public API (no key needed to load it;
the page asks for one and sends it with each call, like any other client)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

router = APIRouter(tags=["playground"], include_in_schema=False)


@cache
def _page() -> str:
    return resources.files("lamina.web").joinpath("playground.html").read_text(encoding="utf-8")


@router.get("/playground")
def playground() -> HTMLResponse:
    """The playground page."""
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})


@router.get("/")
def root() -> RedirectResponse:
    """Send people who open the server's address to the playground."""
    return RedirectResponse("/playground")
