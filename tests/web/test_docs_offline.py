"""``/docs`` (Swagger UI) and ``/redoc`` work with no network beyond the server: their
scripts and styles are served by lamina itself, checked over HTTP and in headless Chromium."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Request, Route, expect
from tests.support.server import Server

# where FastAPI's stock pages, their icon and ReDoc's fonts come from
CDN_HOSTS = ("jsdelivr", "unpkg", "cdnjs", "googleapis", "gstatic", "fastapi.tiangolo.com")
REFERENCE = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.mark.parametrize(("path", "assets"), [("/docs", 3), ("/redoc", 2)])
def test_the_pages_and_their_assets_are_served_by_lamina(
    classic_server: Server, path: str, assets: int
) -> None:
    page = httpx.get(classic_server.url + path)
    assert page.status_code == 200
    urls = [urljoin(str(page.url), ref) for ref in REFERENCE.findall(page.text)]
    assert len(urls) == assets, urls  # scripts, styles and the icon
    for url in urls:
        assert urlsplit(url).netloc == urlsplit(classic_server.url).netloc, url
        asset = httpx.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
        if url.endswith(".css"):
            assert not re.search(r"url\(\s*['\"]?https?:", asset.text), url
        if url.endswith(".js"):  # bundles name many sites in strings; none load from a CDN
            assert not any(host in asset.text for host in CDN_HOSTS), url
    assert not re.search(r"https?://", page.text)
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data:" in csp
    if path == "/docs":
        assert '"validatorUrl": null' in page.text  # no badge fetched from validator.swagger.io


def test_swagger_ui_and_redoc_render_with_every_other_host_cut_off(
    classic_server: Server, browser: Browser
) -> None:
    context = browser.new_context()
    elsewhere: list[str] = []
    origin = urlsplit(classic_server.url).netloc

    def only_lamina(route: Route, request: Request) -> None:
        if urlsplit(request.url).netloc in (origin, ""):
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    context.route("**/*", only_lamina)
    page = context.new_page()
    page.goto(classic_server.url + "/docs")
    expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=30_000)
    assert page.locator(".opblock-summary-path", has_text="/v1/files").count() >= 1
    page.goto(classic_server.url + "/redoc")
    expect(page.get_by_text("/v1/requests/{request_id}/status").first).to_be_attached(
        timeout=30_000
    )
    context.close()
    assert elsewhere == []
