"""Grainy backgrounds: photo content stays in a photo, cut-outs leave a grainy backdrop."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from lamina.engines.classic import ClassicEngine
from lamina.engines.classic.analyse import (
    find_elements,
    translucency_over_image,
    unblend_tint,
)
from lamina.engines.classic.segment import CLEAN_NOISE, noise_level, segment, to_lab
from lamina.types import DecomposeParams

F32 = NDArray[np.float32]
SIDE = 192


def photo_like(seed: int) -> F32:
    """Large smooth colour fields plus grain: the spread and noise of a photograph."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.1, 0.9, (4, 4, 3)).astype(np.float32)
    field = np.asarray(cv2.resize(coarse, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC))
    return np.clip(field + rng.normal(0, 0.03, field.shape), 0, 1).astype(np.float32)


def elements_of(rgb: F32) -> tuple[NDArray[np.int32], list[str]]:
    el = find_elements(to_lab(np.rint(rgb * 255).astype(np.uint8)), np.ones((SIDE, SIDE), bool))
    return el.labels, el.kinds


def test_a_grainy_object_of_a_photo_stays_in_the_background() -> None:
    rgb = photo_like(0)
    grain = np.random.default_rng(1).normal(0, 0.03, (60, 60, 3))
    rgb[30:90, 30:90] = np.clip(np.array([0.9, 0.1, 0.1]) + grain, 0, 1)  # the photo's object
    rgb[120:170, 110:170] = (0.2, 0.3, 0.95)  # a flat card laid on the photo
    labels, kinds = elements_of(rgb)
    assert (labels[40:80, 40:80] == 0).mean() > 0.95
    card = labels[130:160, 120:160]
    assert card.min() > 0 and (card == card[0, 0]).all()
    assert kinds[int(card[0, 0])] in ("shape", "panel")


def cutouts_on_grain(seed: int) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """Two photo-textured ellipses on a grainy plain backdrop, and where they lie."""
    side = 256
    rng = np.random.default_rng(seed)
    rgb = np.clip(np.array([0.85, 0.8, 0.7]) + rng.normal(0, 0.03, (side, side, 3)), 0, 1)
    truth = np.zeros((side, side), bool)
    for centre, axes, colour in (
        ((80, 90), (45, 60), (0.7, 0.3, 0.2)),
        ((180, 170), (50, 40), (0.2, 0.4, 0.6)),
    ):
        mask = np.zeros((side, side), np.uint8)
        cv2.ellipse(mask, centre, axes, 20, 0, 360, 1, -1)
        shading = cv2.resize(
            rng.uniform(-0.15, 0.15, (4, 4, 3)), (side, side), interpolation=cv2.INTER_CUBIC
        )
        texture = np.clip(np.array(colour) + shading + rng.normal(0, 0.03, (side, side, 3)), 0, 1)
        inside = mask > 0
        rgb[inside] = texture[inside]
        truth |= inside
    alpha = np.full((side, side, 1), 255)
    return np.concatenate([np.rint(rgb * 255), alpha], axis=2).astype(np.uint8), truth


def test_cutouts_on_a_grainy_backdrop_leave_the_background() -> None:
    # Photo cut-outs as grainy as the backdrop: region growing alone keeps them in it.
    image, truth = cutouts_on_grain(0)
    stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=3))
    found = np.zeros(truth.shape, bool)
    for layer in stack.layers[1:]:
        found |= layer.rgba[..., 3] > 128
    assert (found & truth).sum() > 0.6 * truth.sum()
    assert (found & ~truth).sum() < 0.15 * truth.sum()


def test_flat_card_over_a_photo_keeps_the_photo_in_the_background() -> None:
    rgb = photo_like(4)
    rgb[60:130, 40:150] = (0.95, 0.85, 0.1)
    image = np.concatenate([np.rint(rgb * 255), np.full((SIDE, SIDE, 1), 255)], axis=2)
    stack = ClassicEngine().decompose(image.astype(np.uint8), DecomposeParams(num_layers=2))
    card = stack.layers[1].rgba
    assert (card[70:120, 50:140, 3] == 255).all()
    assert (card[:40, :, 3] == 0).all()
    assert (stack.layers[0].rgba[..., 3] == 255).all()


def test_unblend_tint_finds_the_colour_and_opacity_laid_over_varied_colours() -> None:
    rng = np.random.default_rng(5)
    under = rng.uniform(0, 1, (500, 3))
    seen = 0.6 * np.array([0.1, 0.2, 0.9]) + 0.4 * under
    found = unblend_tint(seen, under, tolerance=0.01)
    assert found is not None
    colour, opacity = found
    assert abs(opacity - 0.6) < 1e-6 and np.abs(colour - [0.1, 0.2, 0.9]).max() < 1e-5
    opaque = np.broadcast_to(np.array([0.1, 0.2, 0.9]), under.shape)
    assert unblend_tint(opaque, under, tolerance=0.01) is None
    assert unblend_tint(seen, np.full_like(under, 0.5), tolerance=0.01) is None


def test_translucent_card_over_a_photo_is_unblended_from_its_rim() -> None:
    photo = photo_like(6)
    seen = photo.copy()
    seen[50:150, 40:160] = 0.5 * np.array([1.0, 1.0, 1.0]) + 0.5 * photo[50:150, 40:160]
    visible = np.zeros((SIDE, SIDE), bool)
    visible[50:150, 40:160] = True
    owner = np.where(visible, 1, 0).astype(np.int64)
    hole = visible.astype(np.uint8)
    estimate = cv2.inpaint(np.rint(photo * 255).astype(np.uint8), hole, 3, cv2.INPAINT_TELEA)
    found = translucency_over_image(seen, visible, owner, estimate.astype(np.float32) / 255)
    assert found is not None
    colour, opacity = found
    assert abs(opacity - 0.5) < 0.1 and colour.min() > 0.85


def retina_with_a_sticker() -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """scikit-image's retina photo (black all round the eye) with a flat outlined disc on
    it; and the mask of the disc's fill."""
    from skimage import data  # the test extra installs scikit-image (lamina[bench])

    rgb = cv2.resize(data.retina()[..., :3], (512, 512), interpolation=cv2.INTER_AREA)
    sticker = np.zeros((512, 512), np.uint8)
    cv2.circle(sticker, (150, 200), 34, 255, -1)  # the fill inside the outline
    cv2.circle(rgb, (150, 200), 40, (250, 210, 30), -1, cv2.LINE_AA)
    cv2.circle(rgb, (150, 200), 40, (0, 0, 0), 4, cv2.LINE_AA)
    image = np.dstack([rgb, np.full((512, 512), 255, np.uint8)])
    return image, sticker > 128


def test_the_black_round_a_photo_stays_with_the_photo() -> None:
    """The flat black corners round the retina run off the image: they are the photo's own,
    not an element laid on it, so they stay in layer 0 with the eye, and the sticker's
    layer holds the sticker alone (the corners were the sticker's layer-mates; cut along
    the seams round the eye, the eye was)."""
    image, sticker = retina_with_a_sticker()
    layers = ClassicEngine().decompose(image, DecomposeParams(num_layers=2)).layers
    corners = np.zeros(sticker.shape, bool)
    corners[:20, :20] = corners[:20, -20:] = corners[-20:, :20] = corners[-20:, -20:] = True
    eye = np.zeros(sticker.shape, bool)
    eye[200:320, 280:420] = True
    top = layers[1].rgba[..., 3] > 128
    assert top[corners].mean() < 0.01
    assert top[eye].mean() < 0.01  # nor is the eye cut off its surround as a layer
    assert (layers[0].rgba[corners][:, :3] < 30).all()  # black, as in the input
    assert top[sticker].mean() > 0.9


def test_a_flat_banner_along_a_photos_edge_is_still_a_layer() -> None:
    """What is laid on a photo has an edge that region growing cuts along, so a banner
    running off the image is still an element, not part of the photo."""
    image, _ = retina_with_a_sticker()
    image[440:, :, :3] = (30, 60, 200)
    layers = ClassicEngine().decompose(image, DecomposeParams(num_layers=3)).layers
    banner = np.zeros(image.shape[:2], bool)
    banner[445:, 5:-5] = True
    shown = np.stack([layer.rgba[..., 3] == 255 for layer in layers[1:]]).any(axis=0)
    assert shown[banner].mean() > 0.95


def test_a_photo_cutout_with_a_feathered_rim_leaves_the_photo() -> None:
    """A dark disc cut from the Hubble deep field, pasted on the cat with a three-pixel
    feather: the feather is a chain of small steps that joined the disc to the photo, so
    most of it stayed in layer 0. Cut along that seam, it is the layer over the photo."""
    from skimage import data  # the test extra installs scikit-image (lamina[bench])

    cat = cv2.resize(data.chelsea(), (512, 341), interpolation=cv2.INTER_AREA).astype(float)
    sky = cv2.resize(data.hubble_deep_field(), (512, 512), interpolation=cv2.INTER_AREA)
    canvas = np.zeros_like(cat)
    canvas[50:230, 70:250] = sky[250:430, 250:430]
    yy, xx = np.mgrid[:341, :512]
    alpha = np.clip((90.0 - np.hypot(yy + 0.5 - 140, xx + 0.5 - 160)) / 3.0, 0, 1)[..., None]
    rgb = np.rint(canvas * alpha + cat * (1 - alpha)).astype(np.uint8)
    image = np.dstack([rgb, np.full((341, 512), 255, np.uint8)])
    layers = ClassicEngine().decompose(image, DecomposeParams(num_layers=2)).layers
    disc = alpha[..., 0] >= 1.0
    top = layers[1].rgba[..., 3] > 128
    assert top[disc].mean() > 0.85  # 0.18 before
    assert top[~disc].mean() < 0.1


def test_a_grainy_page_is_cut_along_a_cutouts_feathered_rim() -> None:
    """A disc with a 12-pixel feather on a grainy gradient: the rim's small steps join it
    to the page; cut along its seams, it is a region of its own."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:240, :240]
    rgb = np.stack([120 + 40 * xx / 240, 140 + 30 * yy / 240, 90 + 0 * xx], axis=2)
    alpha = np.clip((40 - np.hypot(yy + 0.5 - 100, xx + 0.5 - 100)) / 12.0, 0, 1)[..., None]
    rgb = rgb * (1 - alpha) + np.array([40.0, 60.0, 160.0]) * alpha
    rgb = np.clip(rgb + rng.normal(0, 2.0, rgb.shape), 0, 255).astype(np.uint8)
    lab = to_lab(rgb)
    assert noise_level(lab, np.ones((240, 240), bool)) >= CLEAN_NOISE  # grainy
    labels, _ = segment(lab, np.ones((240, 240), bool), min_area=4)
    assert labels[100, 100] != labels[5, 5]
