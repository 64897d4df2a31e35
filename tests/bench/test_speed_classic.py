"""The text-page input of the speed benchmark and its ink-left measure."""

from __future__ import annotations

import numpy as np
from bench.speed_classic import ink_left, text_page


def test_a_text_page_is_black_type_on_white_at_the_asked_size() -> None:
    page = text_page(0, 256)
    assert page.shape == (256, 256, 4) and (page[..., 3] == 255).all()
    dark = page[..., :3].max(axis=2) < 100
    assert 0.01 < dark.mean() < 0.3  # lines of letters, not a blank or black page
    assert np.array_equal(page, text_page(0, 256))


def test_ink_left_counts_the_type_layer_0_still_shows() -> None:
    page = text_page(1, 256)
    blank = np.full_like(page, 255)
    assert ink_left(page, page) == 1.0
    assert ink_left(page, blank) == 0.0
