"""Which region is the background: not a frame drawn over it, not a flag's other field,
and a soft element that melted into it comes out (cases found on real PSDs and flags)."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from lamina.engines.classic import ClassicEngine
from lamina.engines.classic.analyse import background_regions
from lamina.engines.classic.segment import region_means, segment, to_lab
from lamina.types import DecomposeParams

RGBA = NDArray[np.uint8]
WHITE, BLACK, RED, GREEN = (255, 255, 255), (0, 0, 0), (220, 30, 30), (20, 140, 60)


def canvas(h: int, w: int, colour: tuple[int, int, int]) -> RGBA:
    image = np.zeros((h, w, 4), np.uint8)
    image[..., :3] = colour
    image[..., 3] = 255
    return image


def layers_of(image: RGBA, n: int) -> list[RGBA]:
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=n))
    return [layer.rgba for layer in stack.layers]


def test_a_thin_frame_around_the_page_is_drawn_over_the_background() -> None:
    """A 2 px outline along the border holds all of the border, yet the page inside it is
    the background (it was black: the engine took the frame)."""
    image = canvas(200, 300, WHITE)
    image[:2, :, :3], image[-2:, :, :3] = BLACK, BLACK
    image[:, :2, :3], image[:, -2:, :3] = BLACK, BLACK
    image[60:140, 100:200, :3] = RED
    background = layers_of(image, 3)[0]
    assert background[..., 3].min() == 255
    inside = background[10:190, 10:290, :3].reshape(-1, 3)
    assert np.abs(inside.astype(int) - WHITE).max() <= 2  # white, the square filled in
    assert np.abs(background[1, 150, :3].astype(int) - WHITE).max() <= 2  # under the frame


def test_grid_lines_along_the_border_are_not_the_background() -> None:
    image = canvas(256, 256, WHITE)
    for at in (0, 127, 254):
        image[at : at + 2, :, :3] = BLACK
        image[:, at : at + 2, :3] = BLACK
    for y, x in ((30, 30), (30, 160), (160, 30), (160, 160)):
        cv2.circle(image, (x + 30, y + 30), 28, (*RED, 255), -1)
    background = layers_of(image, 3)[0]
    assert np.median(background[..., :3].reshape(-1, 3), axis=0).tolist() == list(WHITE)


def test_the_other_field_of_a_bicolour_flag_is_a_layer_of_its_own() -> None:
    """Two fields that each hold half of the border are two layers, not one patterned
    background (a striped pattern, many regions of each colour, still is one)."""
    image = canvas(160, 240, RED)
    image[:, :96, :3] = GREEN
    cv2.circle(image, (96, 80), 30, (250, 210, 0, 255), -1)
    layers = layers_of(image, 3)
    green = (image[..., :3] == GREEN).all(axis=2)
    red = (image[..., :3] == RED).all(axis=2)
    shown = [layer[..., 3] == 255 for layer in layers[1:]]
    assert any((s & green).sum() > 0.9 * green.sum() for s in shown) or any(
        (s & red).sum() > 0.9 * red.sum() for s in shown
    )


def test_stripes_of_a_pattern_stay_in_the_background() -> None:
    image = canvas(200, 200, WHITE)
    for x in range(0, 200, 40):
        image[:, x : x + 20, :3] = (40, 80, 200)
    image[70:130, 70:130, :3] = RED
    layers = layers_of(image, 2)
    square = (image[..., :3] == RED).all(axis=2)
    assert (layers[1][..., 3] == 255)[square].mean() > 0.95
    assert (layers[1][..., 3] > 0)[~square].mean() < 0.02


def test_a_blurred_element_with_specks_around_it_leaves_the_backdrop() -> None:
    """A feathered letter-like blob fades into white through small steps; with a few
    specks of its colour beside it, it must still come out as the element."""
    image = canvas(200, 200, WHITE)
    blob = np.zeros((200, 200), np.float32)
    cv2.ellipse(blob, (100, 100), (50, 70), 0, 0, 360, 1.0, -1)
    blob = cv2.GaussianBlur(blob, (0, 0), 8.0)
    pink = np.array((255, 35, 147), np.float32)
    rgb = (1 - blob[..., None]) * 255 + blob[..., None] * pink
    image[..., :3] = np.rint(rgb).astype(np.uint8)
    for y, x in ((20, 20), (20, 180), (180, 30)):
        image[y : y + 2, x : x + 2, :3] = pink.astype(np.uint8)
    layers = layers_of(image, 2)
    core = blob > 0.9
    assert (layers[1][..., 3] > 128)[core].mean() > 0.9
    filled = np.abs(layers[0][..., :3].astype(int)[core] - WHITE).max(axis=1)
    assert filled.mean() < 40  # what the blob hid is filled with white, not pink


def test_a_closed_outline_around_a_convex_shape_is_a_stroke_on_top_of_it() -> None:
    """A disc's thick outline covers more than half of its convex hull, so only its
    closed ring says it is a stroke: drawn above the fill, and not filled in itself (it
    was put below the disc and completed into a bigger disc)."""
    image = canvas(200, 200, WHITE)
    cyan = (0, 200, 220)
    cv2.circle(image, (100, 100), 72, (*cyan, 255), -1)
    cv2.circle(image, (100, 100), 50, (120, 20, 20, 255), -1)
    layers = layers_of(image, 3)
    ring = (image[..., :3] == cyan).all(axis=2)
    disc = (image[..., :3] == (120, 20, 20)).all(axis=2)
    at = {
        name: max(range(1, 3), key=lambda k: (layers[k][..., 3] == 255)[m].mean())
        for name, m in (("ring", ring), ("disc", disc))
    }
    assert at["ring"] > at["disc"], at
    assert (layers[at["ring"]][..., 3] > 0)[disc].mean() < 0.05  # hollow


def test_of_two_fields_alike_on_the_border_the_one_an_emblem_sits_on_is_behind() -> None:
    """Two halves hold the border alike; the background is the one that borders more
    (the emblem sits on it), even with a lighter hairline along the image edge."""
    image = canvas(240, 320, (255, 225, 0))
    image[:, 160:, :3] = WHITE
    cv2.circle(image, (240, 120), 40, (*RED, 255), -1)
    image[0, :, :3] = (250, 250, 200)  # an anti-aliased edge row
    background = layers_of(image, 3)[0]
    assert np.median(background[..., :3].reshape(-1, 3), axis=0).tolist() == list(WHITE)


def test_a_field_cut_into_pieces_by_a_cross_is_still_the_background() -> None:
    """A saltire and a cross over a red field cut the red into eight pieces along the
    border; the single white cross touches the border too and borders every piece, yet the
    field is the background and the cross a layer over it (the cross was layer 0)."""
    image = canvas(240, 320, RED)
    cv2.line(image, (0, 0), (319, 239), (*GREEN, 255), 40)
    cv2.line(image, (0, 239), (319, 0), (*GREEN, 255), 40)
    image[105:135, :, :3] = WHITE
    image[:, 145:175, :3] = WHITE
    layers = layers_of(image, 3)
    background = layers[0]
    assert np.abs(background[120, 40, :3].astype(int) - RED).max() <= 40  # under the cross
    white = (image[..., :3] == WHITE).all(axis=2)
    assert any(((layer[..., 3] == 255) & white).sum() > 0.9 * white.sum() for layer in layers[1:])


def gradient(h: int, w: int) -> NDArray[np.uint8]:
    """A left-to-right purple-to-orange gradient, ``h x w x 3``."""
    t = np.linspace(0.0, 1.0, w)[None, :, None]
    return np.broadcast_to((1 - t) * (40, 10, 90) + t * (255, 140, 0), (h, w, 3)).astype(np.uint8)


def test_cards_in_the_corners_lie_on_the_page_between_them() -> None:
    """Three gradient cards in three corners hold most of the border together, more than the
    white page showing between them; yet the page is the background and the cards lie on
    it (layer 0 was the gradient, the page a layer over it: psd-tools' gradient-sizes)."""
    image = canvas(210, 210, WHITE)
    image[:120, :120, :3] = gradient(120, 120)
    image[:120, 140:, :3] = gradient(120, 70)
    image[140:, :120, :3] = gradient(70, 120)
    image[150:190, 150:190, :3] = gradient(40, 40)  # one more card, off the border
    layers = layers_of(image, 5)
    background = layers[0]
    assert np.abs(background[..., :3].astype(int) - WHITE).max() <= 2  # the cards filled in
    cards = image[..., 0] != 255
    shown = np.stack([layer[..., 3] == 255 for layer in layers[1:]]).any(axis=0)
    assert shown[cards].mean() > 0.99


def test_bands_spanning_the_image_are_not_cards() -> None:
    """Rectangles across the whole width are a flag's bands: the red ones holding most of
    the border stay the background, not the white band an emblem breaks."""
    image = canvas(180, 270, RED)
    image[50:130, :, :3] = WHITE
    cv2.circle(image, (135, 90), 35, (*GREEN, 255), -1)
    background = layers_of(image, 3)[0]
    assert np.median(background[..., :3].reshape(-1, 3), axis=0).tolist() == list(RED)


def test_a_card_off_the_border_is_not_background_for_sharing_the_corner_cards_colour() -> None:
    """The corner cards' colour is no background colour: a fourth card of it, inside the
    page, is not taken into the background as one of the background's look-alikes."""
    image = canvas(210, 210, WHITE)
    image[:120, :120, :3] = gradient(120, 120)
    image[:120, 140:, :3] = gradient(120, 70)
    image[140:, :120, :3] = gradient(70, 120)
    image[150:190, 150:190, :3] = gradient(40, 40)
    lab = to_lab(np.ascontiguousarray(image[..., :3]))
    regions, _ = segment(lab, np.ones((210, 210), bool), min_area=4)
    n = int(regions.max()) + 1
    colours, counts = region_means(lab, regions, n)
    background, main = background_regions(regions, n, counts, colours)
    assert (regions == main)[100, 130]  # the page between the cards
    assert background.tolist() == [r == main for r in range(n)]
