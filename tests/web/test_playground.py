"""The web playground, driven in a real headless Chromium against a real ``lamina serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, expect
from tests.e2e.conftest import Server, start_server


@pytest.fixture(scope="module")
def classic_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("web"), extra=["--engine", "classic"])
    yield server
    server.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def poster(path: Path) -> Path:
    """A blue poster with a red card and a yellow disc: three separable elements."""
    img = Image.new("RGB", (160, 120), (30, 60, 200))
    draw = ImageDraw.Draw(img)
    draw.rectangle([20, 20, 80, 80], fill=(230, 40, 40))
    draw.ellipse([90, 40, 140, 90], fill=(250, 220, 30))
    img.save(path)
    return path


def test_root_redirects_to_the_playground(classic_server: Server) -> None:
    answer = httpx.get(classic_server.url + "/", follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/playground"
    page = httpx.get(classic_server.url + "/playground")
    assert page.status_code == 200
    assert "lamina playground" in page.text


def test_decompose_an_image_in_the_browser(
    classic_server: Server, page: Page, tmp_path: Path
) -> None:
    page.goto(classic_server.url + "/")
    page.fill("#token", classic_server.key)
    page.set_input_files("#file", str(poster(tmp_path / "poster.png")))
    page.fill("#num_layers", "3")
    page.click("#run")
    expect(page.locator("#status")).to_have_text("completed", timeout=60_000)

    items = page.locator("#layers li")
    expect(items).to_have_count(3)
    # the list shows the top layer first, like an image editor; layer 0 (background) last
    assert items.last.get_attribute("data-index") == "0"
    stage_images = page.locator("#stage img")
    expect(stage_images).to_have_count(3)
    for i in range(3):
        assert page.evaluate(f"document.querySelectorAll('#stage img')[{i}].naturalWidth") == 160
    exports = page.locator("#exports a")
    expect(exports).to_have_count(4)
    assert {exports.nth(i).inner_text() for i in range(4)} == {"ZIP", "PSD", "PPTX", "JSON"}
    psd = httpx.get(exports.filter(has_text="PSD").get_attribute("href") or "")
    assert psd.status_code == 200 and psd.content[:4] == b"8BPS"

    # hiding every foreground layer leaves the filled background: all blue where the card was
    for i in range(items.count() - 1):
        items.nth(i).locator("input[type=checkbox]").uncheck()
    shot = tmp_path / "stage.png"
    page.locator("#stage").screenshot(path=str(shot))
    stage = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int32)
    h, w = stage.shape[:2]
    card = stage[int(h * 0.3) : int(h * 0.6), int(w * 0.2) : int(w * 0.45)]
    assert np.abs(card - np.array([30, 60, 200])).max() < 40

    # moving the top layer (picked in the list) moves only that layer
    top = items.first
    top.locator(".meta").click()
    expect(top).to_have_class("selected")
    index = top.get_attribute("data-index")
    box = page.locator("#stage").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 50, box["y"] + 50)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + 70, steps=4)
    page.mouse.up()
    moved = page.locator(f"#stage img[data-index='{index}']")
    assert moved.evaluate("img => img.style.left") == "30px"
    assert page.locator("#stage img[data-index='0']").evaluate("img => img.style.left") == ""


def test_a_bad_key_shows_the_servers_message(
    classic_server: Server, page: Page, tmp_path: Path
) -> None:
    page.goto(classic_server.url + "/playground")
    page.fill("#token", "lam_not_a_key")
    page.set_input_files("#file", str(poster(tmp_path / "poster.png")))
    page.click("#run")
    status = page.locator("#status")
    expect(status).to_have_class("error", timeout=20_000)
    assert "key" in status.inner_text().lower()
