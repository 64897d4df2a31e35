"""The web playground, driven in a real headless Chromium against a real ``lamina serve``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from tests.support.inputs import poster
from tests.support.server import Server, start_server


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def test_root_redirects_to_the_playground(classic_server: Server) -> None:
    answer = httpx.get(classic_server.url + "/", follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/playground"
    page = httpx.get(classic_server.url + "/playground")
    assert page.status_code == 200
    assert "lamina playground" in page.text


def decompose(page: Page, server: Server, image: Path, num_layers: int = 3) -> None:
    page.goto(server.url + "/")
    page.fill("#token", server.key)
    page.set_input_files("#file", str(image))
    page.fill("#num_layers", str(num_layers))
    page.click("#run")
    expect(page.locator("#status")).to_have_text("completed", timeout=60_000)


def stage_pixels(page: Page, path: Path) -> NDArray[np.int32]:
    page.locator("#stage").screenshot(path=str(path))
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int32)


def layer_arrays(page: Page) -> list[NDArray[np.int32]]:
    """The layers the page shows, back to front, fetched from their URLs."""
    urls = page.locator("#stage img.layer").evaluate_all("imgs => imgs.map(img => img.src)")
    return [
        np.asarray(Image.open(io.BytesIO(httpx.get(url).content)).convert("RGBA")).astype(np.int32)
        for url in urls
    ]


def over(base: NDArray[np.int32], layer: NDArray[np.int32], dx: int, dy: int) -> None:
    """``layer`` moved by ``(dx, dy)`` composited over opaque ``base`` in place (RGB)."""
    h, w = base.shape[:2]
    shifted = np.zeros((h, w, 4), dtype=np.int32)
    ys, xs = slice(max(0, dy), min(h, h + dy)), slice(max(0, dx), min(w, w + dx))
    shifted[ys, xs] = layer[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    a = shifted[..., 3:4] / 255.0
    base[..., :3] = np.rint(shifted[..., :3] * a + base[..., :3] * (1 - a)).astype(np.int32)


def download(page: Page, tmp_path: Path) -> NDArray[np.int32]:
    with page.expect_download() as info:
        page.click("#download")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name == "lamina-edited.png"
    return np.asarray(Image.open(saved).convert("RGBA"), dtype=np.int32)


def test_decompose_an_image_in_the_browser(
    classic_server: Server, page: Page, tmp_path: Path
) -> None:
    decompose(page, classic_server, poster(tmp_path / "poster.png"))
    items = page.locator("#layers li")
    expect(items).to_have_count(3)
    # the list shows the top layer first, like an image editor; layer 0 (background) last
    assert items.last.get_attribute("data-index") == "0"
    stage_images = page.locator("#stage img.layer")
    expect(stage_images).to_have_count(3)
    for i in range(3):
        assert stage_images.nth(i).evaluate("img => img.naturalWidth") == 160
    exports = page.locator("#exports a")
    expect(exports).to_have_count(4)
    assert {exports.nth(i).inner_text() for i in range(4)} == {"ZIP", "PSD", "PPTX", "JSON"}
    psd = httpx.get(exports.filter(has_text="PSD").get_attribute("href") or "")
    assert psd.status_code == 200 and psd.content[:4] == b"8BPS"

    # hiding every foreground layer leaves the filled background: all blue where the card was
    for i in range(items.count() - 1):
        items.nth(i).locator("input[type=checkbox]").uncheck()
    stage = stage_pixels(page, tmp_path / "stage.png")
    h, w = stage.shape[:2]
    card = stage[int(h * 0.3) : int(h * 0.6), int(w * 0.2) : int(w * 0.45)]
    assert np.abs(card - np.array([30, 60, 200])).max() < 40
    page.click("#reset")  # every layer shown again
    assert all(items.nth(i).locator("input").is_checked() for i in range(3))


def test_move_a_layer_then_download_the_edited_composite_and_reset(
    classic_server: Server, page: Page, tmp_path: Path
) -> None:
    source = poster(tmp_path / "poster.png")
    decompose(page, classic_server, source)
    layers = layer_arrays(page)
    top = page.locator("#layers li").first
    top.locator(".meta").click()
    expect(top).to_have_class("selected")
    index = int(top.get_attribute("data-index") or -1)
    box = page.locator("#stage").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 50, box["y"] + 50)
    page.mouse.down()
    page.mouse.move(box["x"] + 90, box["y"] + 70, steps=4)
    page.mouse.up()
    scale = 160 / page.locator("#stage").evaluate("stage => stage.clientWidth")
    dx, dy = round(40 * scale), round(20 * scale)
    assert dx > 0 and dy > 0

    # the download is the shown layers composited at full size, the moved one where it went
    edited = download(page, tmp_path)
    expected = layers[0].copy()
    for i, layer in enumerate(layers[1:], start=1):
        over(expected, layer, *((dx, dy) if i == index else (0, 0)))
    assert edited.shape == (120, 160, 4) and (edited[..., 3] == 255).all()
    assert np.mean(np.abs(edited[..., :3] - expected[..., :3]) > 8) < 0.01
    # on screen too, in shares of the image (so it stays put when the window resizes)
    moved = page.locator(f"#stage img.layer[data-index='{index}']")
    assert float(moved.evaluate("i => i.style.left").rstrip("%")) == pytest.approx(100 * dx / 160)
    assert page.locator("#stage img.layer[data-index='0']").evaluate("i => i.style.left") == ""

    page.click("#reset")
    unmoved = download(page, tmp_path)
    original = np.asarray(Image.open(source).convert("RGB"), dtype=np.int32)
    assert np.mean(np.abs(unmoved[..., :3] - original) > 8) < 0.01


def test_original_and_layers_views(classic_server: Server, page: Page, tmp_path: Path) -> None:
    source = poster(tmp_path / "poster.png")
    decompose(page, classic_server, source)
    page.locator("#layers li").first.locator("input[type=checkbox]").uncheck()
    layers_view = stage_pixels(page, tmp_path / "layers.png")
    page.click("#view-original")
    expect(page.locator("#view-original")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#original")).to_be_visible()
    expect(page.locator("#stage img.layer").first).to_be_hidden()
    original_view = stage_pixels(page, tmp_path / "original.png")
    # the original still shows the element the layers view hides
    assert np.abs(original_view - layers_view).max(axis=2).mean() > 5
    shown = np.asarray(Image.open(source).convert("RGB").resize(original_view.shape[1::-1]))
    assert np.mean(np.abs(original_view - shown.astype(np.int32)) > 40) < 0.03
    page.click("#view-layers")
    expect(page.locator("#original")).to_be_hidden()
    expect(page.locator("#stage img.layer").first).to_be_visible()


def test_the_layout_fits_the_window(classic_server: Server, page: Page, tmp_path: Path) -> None:
    """No sideways scrolling from 1280 px down to a 360 px phone, and the stage shows the
    same picture at every width (screenshots compared with the input, scaled)."""
    source = poster(tmp_path / "poster.png")
    decompose(page, classic_server, source)
    for width in (1280, 800, 390, 360):
        page.set_viewport_size({"width": width, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, width
        for selector in ("#stage", "#run", "#token", "#layers", "#download"):
            found = page.locator(selector).bounding_box()
            assert found is not None, selector
            assert found["x"] >= 0 and found["x"] + found["width"] <= width, (selector, width)
        stage = stage_pixels(page, tmp_path / f"stage-{width}.png")
        assert stage.shape[1] >= min(300, width - 40), width  # the stage gets the room it needs
        shown = np.asarray(Image.open(source).convert("RGB").resize(stage.shape[1::-1]))
        assert np.mean(np.abs(stage - shown.astype(np.int32)) > 40) < 0.03, width


def test_a_missing_key_says_where_to_find_one(
    classic_server: Server, page: Page, tmp_path: Path
) -> None:
    page.goto(classic_server.url + "/playground")
    page.evaluate("localStorage.clear()")
    page.fill("#token", "")
    page.set_input_files("#file", str(poster(tmp_path / "poster.png")))
    page.click("#run")
    status = page.locator("#status")
    expect(status).to_have_class("error")
    assert "Paste the API key first" in status.inner_text()
    assert "lamina keys create" in status.inner_text()
    assert "Authorization" not in status.inner_text()


def test_a_wrong_key_is_said_plainly(classic_server: Server, page: Page, tmp_path: Path) -> None:
    page.goto(classic_server.url + "/playground")
    page.fill("#token", "lam_not_a_key")
    page.set_input_files("#file", str(poster(tmp_path / "poster.png")))
    page.click("#run")
    status = page.locator("#status")
    expect(status).to_have_class("error", timeout=20_000)
    assert "This API key was not accepted" in status.inner_text()
    assert "Authorization" not in status.inner_text()


@pytest.fixture(scope="module")
def gate_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The gate engine: a prompt ``gate:NAME`` holds the job at progress 0.5 until opened."""
    server = start_server(tmp_path_factory.mktemp("web-gate"))
    yield server
    server.stop()


def status_requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/status" in r.url else None)
    return seen


def test_the_progress_bar_follows_the_status_stream(
    gate_server: Server, page: Page, tmp_path: Path
) -> None:
    seen = status_requests(page)
    page.goto(gate_server.url + "/playground")
    page.fill("#token", gate_server.key)
    page.set_input_files("#file", str(poster(tmp_path / "poster.png")))
    page.fill("#num_layers", "2")
    page.fill("#prompt", "gate:progress")
    page.click("#run")
    expect(page.locator("#progress-box")).to_be_visible()
    expect(page.locator("#progress")).to_have_js_property("value", 0.5, timeout=20_000)
    expect(page.locator("#progress-label")).to_contain_text("50%")
    expect(page.locator("#status")).to_have_text("working…")
    gate_server.open_gate("progress")
    expect(page.locator("#status")).to_have_text("completed", timeout=60_000)
    expect(page.locator("#progress-box")).to_be_hidden()
    assert len(seen) == 1 and seen[0].endswith("/status?stream=true")  # one stream, no polling


def test_without_a_status_stream_the_page_polls(
    gate_server: Server, page: Page, tmp_path: Path
) -> None:
    """A server without the stream (the hosted API) answers the plain status to
    ``?stream=true``; the page then polls."""
    page.route("**/status?stream=true", lambda route: route.fulfill(json={"status": "in_queue"}))
    seen = status_requests(page)
    page.goto(gate_server.url + "/playground")
    page.fill("#token", gate_server.key)
    page.set_input_files("#file", str(poster(tmp_path / "poster.png")))
    page.fill("#num_layers", "2")
    page.fill("#prompt", "gate:polled")
    page.click("#run")
    expect(page.locator("#progress-label")).to_contain_text("50%", timeout=20_000)
    gate_server.open_gate("polled")
    expect(page.locator("#status")).to_have_text("completed", timeout=60_000)
    assert seen[0].endswith("/status?stream=true")
    assert len(seen) > 2 and all(url.endswith("/status") for url in seen[1:])


def test_decompose_one_layer_again(classic_server: Server, page: Page, tmp_path: Path) -> None:
    """Splitting a layer puts its parts in its place: the composite is unchanged and each
    part moves on its own."""
    source = poster(tmp_path / "poster.png")
    decompose(page, classic_server, source, num_layers=2)
    items = page.locator("#layers li")
    expect(items).to_have_count(2)
    top = items.first
    assert top.get_attribute("data-index") == "1"
    page.fill("#num_layers", "3")
    top.locator("button.split").click()
    expect(page.locator("#status")).to_contain_text("layer 1 is now", timeout=60_000)
    ids = [items.nth(i).get_attribute("data-index") for i in range(items.count())]
    assert len(ids) >= 3 and ids[-1] == "0" and all(i.startswith("1.") for i in ids[:-1]), ids
    stage_ids = page.locator("#stage img.layer").evaluate_all("i => i.map(x => x.dataset.index)")
    assert stage_ids == ids[::-1]  # the stage is back to front, the list top first
    assert page.locator("#exports").get_attribute("data-note") is not None
    original = np.asarray(Image.open(source).convert("RGB"), dtype=np.int32)
    edited = download(page, tmp_path)
    assert np.mean(np.abs(edited[..., :3] - original) > 8) < 0.01
    part = items.first
    part.locator(".meta").click()
    box = page.locator("#stage").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + 40, steps=3)
    page.mouse.up()
    lefts = page.locator("#stage img.layer").evaluate_all("i => i.map(x => x.style.left)")
    moved = [left not in ("", "0%") for left in lefts]
    assert moved == [i == ids[0] for i in stage_ids]  # only the picked part moved
