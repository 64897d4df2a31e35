"""Learned text-line detection (opt-in) and outlines drawn over fills."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from lamina.engines.classic import ClassicEngine, textdet
from lamina.engines.classic.order import strokes
from lamina.types import DecomposeParams

RGBA = NDArray[np.uint8]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def poster() -> RGBA:
    """A cream page with a red headline and a green disc."""
    img = Image.new("RGB", (512, 384), (240, 230, 200))
    draw = ImageDraw.Draw(img)
    draw.text((40, 40), "Up to 50% off", font=ImageFont.truetype(FONT, 32), fill=(200, 30, 30))
    draw.ellipse((350, 150, 475, 275), fill=(20, 160, 60))
    rgb = np.asarray(img)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


@pytest.fixture
def detector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMINA_TEXT_MODEL", "rapidocr")
    if not textdet.available():
        pytest.skip("the text extra (rapidocr, onnxruntime) is not installed")


def test_detection_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMINA_TEXT_MODEL", raising=False)
    assert textdet.model_path() is None and not textdet.available()


@pytest.mark.usefixtures("detector")
def test_detector_finds_the_line_and_not_the_disc() -> None:
    image = poster()
    lines = textdet.text_lines(image[..., :3].astype(np.float32) / 255.0)
    assert lines.max() == 1
    ys, xs = np.nonzero(lines)
    assert xs.min() <= 45 and xs.max() >= 270 and ys.min() <= 48 and ys.max() >= 70
    assert not lines[150:276, 350:476].any()


@pytest.mark.usefixtures("detector")
def test_a_detected_line_lands_whole_in_one_layer_above_the_background() -> None:
    image = poster()
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=3))
    red = (image[..., 0] > 150) & (image[..., 1] < 100)
    holders = [k for k in (1, 2) if (stack.layers[k].rgba[..., 3][red] > 128).mean() > 0.9]
    assert len(holders) == 1, holders
    assert stack.layers[holders[0]].kind == "text"
    # Nothing of the line stays in the background: under it lies the page's colour.
    under = stack.layers[0].rgba[..., :3][red].astype(int)
    assert np.abs(under - (240, 230, 200)).max() <= 12


def test_an_outline_drawn_over_fills_is_on_top_and_hollow() -> None:
    """Line art (OpenMoji's construction): colour fills, then a black outline over them."""
    image = np.full((256, 256, 4), 255, np.uint8)
    cv2.circle(image, (128, 128), 90, (250, 200, 30, 255), -1, lineType=cv2.LINE_AA)
    cv2.rectangle(image, (90, 150), (166, 170), (220, 60, 60, 255), -1)
    cv2.circle(image, (128, 128), 90, (0, 0, 0, 255), 6, lineType=cv2.LINE_AA)
    cv2.circle(image, (95, 100), 12, (0, 0, 0, 255), 5, lineType=cv2.LINE_AA)
    cv2.circle(image, (161, 100), 12, (0, 0, 0, 255), 5, lineType=cv2.LINE_AA)
    cv2.line(image, (100, 100), (156, 100), (0, 0, 0, 255), 5, lineType=cv2.LINE_AA)
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=4))
    black = image[..., :3].max(axis=2) < 40
    yellow = (image[..., 0] > 200) & (image[..., 2] < 80)
    line_layer = max(
        range(1, 4), key=lambda k: int((stack.layers[k].rgba[..., 3][black] > 128).sum())
    )
    fill_layer = max(
        range(1, 4), key=lambda k: int((stack.layers[k].rgba[..., 3][yellow] > 128).sum())
    )
    assert line_layer > fill_layer > 0
    # The outline layer has no black body under the fills: its inside stays clear.
    assert (stack.layers[line_layer].rgba[..., 3][yellow] == 0).mean() > 0.95


def test_a_fill_runs_under_its_outline_to_the_outline_s_middle() -> None:
    """A stroke is drawn centred on the fill's edge: moving the outline layer must show
    the fill under its inner half and the page under its outer half, not a ring-shaped
    hole in the fill."""
    image = np.full((256, 256, 4), 255, np.uint8)
    cv2.circle(image, (128, 128), 80, (250, 200, 30, 255), -1, lineType=cv2.LINE_AA)
    cv2.circle(image, (128, 128), 80, (0, 0, 0, 255), 10, lineType=cv2.LINE_AA)
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=3))
    yy, xx = np.mgrid[:256, :256]
    radius = np.hypot(yy - 128, xx - 128)
    fill = max(range(1, 3), key=lambda k: int(stack.layers[k].rgba[..., 3][radius < 60].sum()))
    alpha = stack.layers[fill].rgba[..., 3]
    assert fill < 2 and stack.layers[2].kind != "empty"
    inner = (radius > 76) & (radius < 79)
    assert (alpha[inner] == 255).mean() > 0.9  # under the inner half
    assert (alpha[(radius > 83) & (radius < 85)] == 0).mean() > 0.9  # not under the outer
    under = stack.layers[fill].rgba[..., :3][inner & (alpha == 255)].astype(int)
    assert np.abs(np.median(under, axis=0) - (250, 200, 30)).max() <= 12  # the fill's colour


def test_a_white_fill_shut_inside_line_art_is_not_the_page() -> None:
    """OpenMoji's bowl: a white fill outlined in black on a white page is a fill the
    illustrator painted; it belongs with the other fills, not to layer 0."""
    image = np.full((256, 256, 4), 255, np.uint8)
    cv2.ellipse(image, (128, 150), (90, 60), 0, 0, 180, (0, 0, 0, 255), 6, cv2.LINE_AA)
    cv2.line(image, (38, 150), (218, 150), (0, 0, 0, 255), 6, cv2.LINE_AA)
    cv2.circle(image, (128, 100), 30, (250, 200, 30, 255), -1, cv2.LINE_AA)
    cv2.circle(image, (128, 100), 30, (0, 0, 0, 255), 5, cv2.LINE_AA)
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=3))
    bowl = np.zeros((256, 256), np.uint8)
    cv2.ellipse(bowl, (128, 150), (80, 50), 0, 10, 170, 1, -1)
    inside = (bowl > 0) & (image[..., :3].min(axis=2) == 255)
    inside[:156] = False  # below the rim's line
    assert inside.sum() > 2000
    owners = [int((layer.rgba[..., 3][inside] == 255).sum()) for layer in stack.layers]
    top = max(range(3), key=lambda k: (owners[k], k))
    assert top > 0 and owners[top] > 0.9 * inside.sum()


def test_a_page_inside_a_frame_stays_the_background() -> None:
    """The page a frame encloses is shut in by an outline too, but it is the page: the
    largest part of the background is never taken for a fill."""
    image = np.full((256, 256, 4), 255, np.uint8)
    cv2.rectangle(image, (0, 0), (255, 255), (0, 0, 0, 255), 10)
    cv2.ellipse(image, (128, 170), (70, 45), 0, 0, 180, (0, 0, 0, 255), 6, cv2.LINE_AA)
    cv2.line(image, (58, 170), (198, 170), (0, 0, 0, 255), 6, cv2.LINE_AA)
    cv2.circle(image, (128, 80), 30, (250, 200, 30, 255), -1, cv2.LINE_AA)
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=3))
    page = np.zeros((256, 256), bool)
    page[15:40, 20:236] = True  # white, away from everything drawn
    back = stack.layers[0].rgba
    assert (back[..., 3][page] == 255).all()
    assert np.abs(back[..., :3][page].astype(int) - 255).max() <= 6
    for layer in stack.layers[1:]:
        assert (layer.rgba[..., 3][page] == 0).all()


def test_an_outlined_sticker_on_a_transparent_canvas_keeps_its_body_in_layer_0() -> None:
    """On a transparent canvas the background reaches no image edge, and an outlined
    sticker's white body is shut in by its outline: it is still the background."""
    image = np.zeros((256, 256, 4), np.uint8)
    cv2.circle(image, (128, 128), 100, (255, 255, 255, 255), -1, cv2.LINE_AA)
    cv2.circle(image, (128, 128), 100, (0, 0, 0, 255), 6, cv2.LINE_AA)
    cv2.circle(image, (128, 128), 30, (220, 40, 40, 255), -1, cv2.LINE_AA)
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=3))
    body = np.zeros((256, 256), np.uint8)
    cv2.circle(body, (128, 128), 90, 1, -1)
    cv2.circle(body, (128, 128), 36, 0, -1)
    assert stack.layers[0].kind == "background"
    assert (stack.layers[0].rgba[..., 3][body > 0] == 255).mean() > 0.95


def test_a_blurred_element_on_a_flat_page_gets_its_own_layer() -> None:
    """A soft-edged letter fades into the page in steps region growing joins; asked for a
    layer, the engine must still lift it off the page (a PSD test file's 'A' was lost)."""
    img = Image.new("RGB", (256, 256), (255, 255, 255))
    ImageDraw.Draw(img).text((60, 30), "A", font=ImageFont.truetype(FONT, 160), fill=(240, 60, 150))
    rgb = cv2.GaussianBlur(np.asarray(img), (0, 0), 6)
    image = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=2))
    pink = rgb[..., 1] < 150
    top = stack.layers[1]
    assert not top.empty
    assert (top.rgba[..., 3][pink] > 128).mean() > 0.9
    under = stack.layers[0].rgba[..., :3][pink].astype(int)
    assert np.abs(under - 255).max() <= 40


def small_type() -> RGBA:
    """Three lines of 11 px body text on a white page: one-pixel anti-aliased strokes."""
    img = Image.new("RGB", (400, 400), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 11)
    for row, line in enumerate(("Line 1", "Line 2", "Line 3 and text")):
        draw.text((85, 110 + 16 * row), line, font=font, fill=(0, 0, 0))
    rgb = np.asarray(img)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def test_small_body_text_lands_whole_in_one_layer_with_soft_edges() -> None:
    """Region growing shatters hairline letters into specks; none may stay in the page."""
    image = small_type()
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=2))
    ink = image[..., 0] < 128
    text = stack.layers[1].rgba
    assert (text[..., 3][ink] > 128).all()
    assert (stack.layers[0].rgba[..., :3][ink] > 240).all()
    # The letters' anti-aliased rims are unblended: black ink whose opacity is the
    # coverage (1 - grey level), not grey pixels painted opaque.
    letters = image[..., 0] < 250
    coverage = 1.0 - image[..., 0][letters] / 255.0
    assert np.abs(text[..., 3][letters] / 255.0 - coverage).mean() < 0.04


def rounded_square(side: int, inset: int, radius: int) -> NDArray[np.bool_]:
    """A filled square of ``side - 2 * inset`` with corners rounded to ``radius``."""
    mask = np.zeros((side, side), np.uint8)
    lo, hi = inset + radius, side - 1 - inset - radius
    cv2.rectangle(mask, (inset, lo), (side - 1 - inset, hi), 1, -1)
    cv2.rectangle(mask, (lo, inset), (hi, side - 1 - inset), 1, -1)
    for cx in (lo, hi):
        for cy in (lo, hi):
            cv2.circle(mask, (cx, cy), radius, 1, -1)
    return mask.astype(bool)


def test_the_rim_of_a_tile_round_a_logo_is_no_outline() -> None:
    """A round-cornered logo on a square tile: the tile shows only as a rim, thin at the
    sides and wide in the corners. It lies under the logo; an outline drawn over a
    shape keeps one width all round."""
    logo = rounded_square(200, 4, 90)
    tile = np.zeros((200, 200), np.int32)
    tile[~logo] = 1
    tile[logo] = 2
    labels = np.pad(tile, 20)  # the page, 0, round the tile
    kinds = ["background", "shape", "shape"]
    areas = np.bincount(labels.ravel(), minlength=3)
    assert not strokes(labels, kinds, areas)[1]
    outline = rounded_square(200, 0, 94) & ~logo
    drawn = np.where(outline, 1, np.where(logo, 2, 0)).astype(np.int32)
    assert strokes(drawn, kinds, np.bincount(drawn.ravel(), minlength=3))[1]


@pytest.mark.parametrize(("side", "size", "margin"), [(768, 11, 20), (640, 9, 20), (1024, 14, 10)])
def test_a_page_of_small_print_leaves_no_word_in_the_page(
    side: int, size: int, margin: int
) -> None:
    """A page full of small text, analysed at about 7 px: letters' mean colours are their
    ink diluted by the page to different degrees, thin letters pass for seams, and each
    letter's surround holds other letters' dark rims; at 640 px the strokes between a
    letter's darkest pixels and the page look like anti-aliased seams. No word may stay
    in layer 0 (before, 23% and 34% of the ink did). A page printed to within 10 px of its
    edges is edges over most of its pixels: it must still read as a clean rendering (80%
    stayed in layer 0 when its anti-aliasing was taken for grain)."""
    img = Image.new("RGB", (side, side), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", size)
    words = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")
    for row, y in enumerate(range(margin, side - 2 * margin, round(size * 1.3))):
        line = " ".join(words[(row + k) % len(words)] for k in range(40))  # off the edge
        draw.text((margin, y), line, font=font, fill=(0, 0, 0))
    rgb = np.asarray(img)
    image = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=4))
    ink = rgb.max(axis=2) < 100
    left = stack.layers[0].rgba[..., :3][ink].min(axis=1) < 128
    assert left.mean() < 0.005


def test_a_frame_round_lines_of_text_is_a_layer_of_its_own() -> None:
    # A thin frame round two lines of text, 25 px clear of them. It was taken for a seam
    # and left in the background, one layer per line, and, being darker than the page
    # near the text, for the lines' drop shadow: a piece of it beside each line went
    # into that line's layer.
    img = Image.new("RGB", (700, 560), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 100)
    draw.text((110, 120), "First", font=font, fill="black")
    draw.text((110, 260), "Artboard", font=font, fill="black")
    draw.rectangle((80, 60, 680, 500), outline="black", width=3)
    rgb = np.asarray(img)
    image = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=3))
    frame = np.zeros(rgb.shape[:2], bool)
    frame[60:501, 80:684] = True
    frame[63:498, 83:678] = False
    dark = frame & (rgb.max(axis=2) < 128)
    ink = ~frame & (rgb.max(axis=2) < 128)
    alphas = [layer.rgba[..., 3] for layer in stack.layers]
    (text,) = [k for k in (1, 2) if (alphas[k][ink] > 128).mean() > 0.95]
    (rule,) = [k for k in (1, 2) if (alphas[k][dark] > 128).mean() > 0.95]
    assert text != rule and not (alphas[text][dark] > 0).any()
