"""decode_image on every supported kind of image and on hostile bytes; encode_image round trips.

The contract under test: RGBA ``uint8`` out, or InvalidImage / ImageTooLarge, never
another exception type.
"""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image, ImageCms

from lamina.errors import ImageTooLarge, InvalidImage
from lamina.imaging.codec import decode_image, encode_image


def _save(img: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def _rgba(width: int = 24, height: int = 16, seed: int = 0) -> NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 4), dtype=np.uint8)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` (a decompression bomb's shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


# -- supported inputs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("WEBP", {"lossless": True, "exact": True}), ("TIFF", {})],
)
def test_lossless_rgba_formats_decode_exactly(fmt: str, options: dict[str, object]) -> None:
    rgba = _rgba()
    decoded = decode_image(_save(Image.fromarray(rgba, "RGBA"), fmt, **options))
    assert decoded.format == fmt
    assert decoded.rgba.dtype == np.uint8 and decoded.rgba.shape == (16, 24, 4)
    assert decoded.has_alpha
    assert np.array_equal(decoded.rgba, rgba)


def test_bmp_decodes_opaque() -> None:
    rgb = _rgba()[..., :3]
    decoded = decode_image(_save(Image.fromarray(rgb, "RGB"), "BMP"))
    assert decoded.format == "BMP" and not decoded.has_alpha
    assert np.array_equal(decoded.rgba[..., :3], rgb)
    assert (decoded.rgba[..., 3] == 255).all()


def test_jpeg_decodes_close_to_the_source() -> None:
    rgb = np.zeros((32, 32, 3), dtype=np.uint8)
    rgb[:, :16] = (200, 40, 40)
    rgb[:, 16:] = (40, 40, 200)
    decoded = decode_image(_save(Image.fromarray(rgb, "RGB"), "JPEG", quality=95))
    assert decoded.format == "JPEG" and not decoded.has_alpha
    assert np.abs(decoded.rgba[4:28, 4:12, :3].astype(int) - (200, 40, 40)).max() < 12
    assert (decoded.rgba[..., 3] == 255).all()


@pytest.mark.parametrize("size", [(1, 1), (1, 5000), (5000, 1)])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_tiny_and_extreme_aspect_images(size: tuple[int, int], fmt: str) -> None:
    img = Image.new("RGB", size, (10, 200, 30))
    decoded = decode_image(_save(img, fmt))
    assert decoded.size == size
    assert decoded.rgba.shape == (size[1], size[0], 4)


def test_palette_with_transparency() -> None:
    pal = Image.new("P", (8, 4), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putpixel((0, 0), 0)
    decoded = decode_image(_save(pal, "PNG", transparency=0))
    assert decoded.has_alpha
    assert tuple(decoded.rgba[0, 0]) == (0, 0, 0, 0)
    assert tuple(decoded.rgba[3, 7]) == (255, 0, 0, 255)


def test_gray_with_alpha_la() -> None:
    la = np.stack([np.full((6, 5), 90, np.uint8), np.full((6, 5), 33, np.uint8)], axis=2)
    decoded = decode_image(_save(Image.fromarray(la, "LA"), "PNG"))
    assert decoded.has_alpha
    assert (decoded.rgba == (90, 90, 90, 33)).all()


def test_16_bit_grayscale_png_and_tiff_use_the_full_range() -> None:
    gray = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    for fmt in ("PNG", "TIFF"):
        data = _save(Image.fromarray(gray), fmt)
        assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
        decoded = decode_image(data)
        assert decoded.rgba[0, :, 0].tolist() == [0, 128, 255]
        assert (decoded.rgba[..., 0] == decoded.rgba[..., 2]).all()
        assert (decoded.rgba[..., 3] == 255).all()


def test_16_bit_grayscale_png_with_a_transparent_grey() -> None:
    gray = np.array([[0, 1000, 65535]], dtype=np.uint16)
    decoded = decode_image(_save(Image.fromarray(gray), "PNG", transparency=1000))
    assert decoded.has_alpha
    assert decoded.rgba[0, :, 3].tolist() == [255, 0, 255]


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16_bit_colour_with_alpha(ext: str) -> None:
    bgra = np.zeros((4, 6, 4), dtype=np.uint16)
    bgra[..., 2] = 65535  # red (OpenCV writes BGR order)
    bgra[..., 1] = 257 * 64
    bgra[..., 3] = 257 * 200
    ok, encoded = cv2.imencode(ext, bgra)
    assert ok
    decoded = decode_image(encoded.tobytes())
    assert decoded.has_alpha
    assert (decoded.rgba == (255, 64, 0, 200)).all()


def test_float_tiff_in_unit_range() -> None:
    values = np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32)
    decoded = decode_image(_save(Image.fromarray(values, "F"), "TIFF"))
    assert decoded.rgba[0, :, 0].tolist() == [0, 128, 255, 0]


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red ink
    data = _save(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    decoded = decode_image(data)
    assert np.abs(decoded.rgba[8, 8].astype(int) - (255, 0, 0, 255)).max() < 8


def test_lab_tiff_is_converted_colorimetrically() -> None:
    lab = Image.new("LAB", (4, 4), (255, 128, 128))  # L=100, a=b=0: white
    decoded = decode_image(_save(lab, "TIFF"))
    assert np.abs(decoded.rgba[0, 0].astype(int) - (255, 255, 255, 255)).max() <= 2


def test_exif_orientation_is_applied() -> None:
    rgb = np.zeros((20, 40, 3), dtype=np.uint8)
    rgb[:, :20] = (255, 0, 0)  # left half red
    rgb[:, 20:] = (0, 0, 255)
    img = Image.fromarray(rgb, "RGB")
    exif = img.getexif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    decoded = decode_image(_save(img, "JPEG", quality=95, exif=exif.tobytes()))
    assert decoded.size == (20, 40)
    assert decoded.rgba[5, 10, 0] > 200 and decoded.rgba[5, 10, 2] < 50  # top is red
    assert decoded.rgba[35, 10, 2] > 200 and decoded.rgba[35, 10, 0] < 50


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), (i % 256, 255 - i % 256, 0)) for i in range(400)]
    data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10)
    assert Image.open(io.BytesIO(data)).n_frames == 400
    decoded = decode_image(data)
    assert decoded.format == "GIF"
    assert tuple(decoded.rgba[0, 0]) == (0, 255, 0, 255)


def test_animated_webp_and_apng_give_their_first_frame() -> None:
    frames = [Image.new("RGBA", (8, 8), (0, 0, 255, 255)), Image.new("RGBA", (8, 8), "red")]
    for fmt in ("WEBP", "PNG"):
        data = _save(frames[0], fmt, save_all=True, append_images=frames[1:], lossless=True)
        assert tuple(decode_image(data).rgba[4, 4]) == (0, 0, 255, 255)


def _swapped_profile() -> bytes:
    """An RGB ICC profile whose red and blue primaries are swapped (named "swapped")."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    tags = {}
    for i in range(struct.unpack(">I", profile[128:132])[0]):
        sig, offset, size = struct.unpack(">4sII", profile[132 + 12 * i : 144 + 12 * i])
        tags[sig] = (offset, size)
    (r_at, r_len), (b_at, b_len) = tags[b"rXYZ"], tags[b"bXYZ"]
    red, blue = bytes(profile[r_at : r_at + r_len]), bytes(profile[b_at : b_at + b_len])
    profile[r_at : r_at + r_len], profile[b_at : b_at + b_len] = blue, red
    name = "sRGB built-in".encode("utf-16-be")  # the mluc description tag
    return bytes(profile).replace(name, "swapped RB   ".encode("utf-16-be"))


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_embedded_icc_profile_is_converted_to_srgb(mode: str) -> None:
    img = Image.new(mode, (6, 4), (200, 30, 10, 77)[: len(mode)])
    decoded = decode_image(_save(img, "PNG", icc_profile=_swapped_profile()))
    assert np.abs(decoded.rgba[0, 0, :3].astype(int) - (10, 30, 200)).max() <= 2
    assert decoded.rgba[0, 0, 3] == (77 if mode == "RGBA" else 255)


def test_icc_profile_in_jpeg_is_converted() -> None:
    img = Image.new("RGB", (16, 16), (220, 40, 20))
    decoded = decode_image(_save(img, "JPEG", quality=95, icc_profile=_swapped_profile()))
    assert np.abs(decoded.rgba[8, 8, :3].astype(int) - (20, 40, 220)).max() <= 8


@pytest.mark.parametrize(
    "icc",
    [
        ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),  # skipped
        ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),  # wrong space
        b"definitely not an ICC profile",
    ],
)
def test_srgb_unfitting_or_corrupt_profiles_leave_pixels_as_they_are(icc: bytes) -> None:
    rgba = _rgba(seed=4)
    decoded = decode_image(_save(Image.fromarray(rgba, "RGBA"), "PNG", icc_profile=icc))
    assert np.array_equal(decoded.rgba, rgba)


# -- hostile and unsupported inputs -------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"GIF89a",
        b"not an image at all",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
        b"%PDF-1.4\n",
    ],
)
def test_garbage_and_unsupported_formats_are_invalid(data: bytes) -> None:
    with pytest.raises(InvalidImage) as info:
        decode_image(data)
    assert type(info.value) is InvalidImage


def test_ico_is_refused_with_the_supported_list() -> None:
    data = _save(Image.new("RGBA", (16, 16), "red"), "ICO")
    with pytest.raises(InvalidImage, match="use PNG, JPEG, WebP, GIF, BMP or TIFF"):
        decode_image(data)


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_are_invalid(seed: int) -> None:
    data = np.random.default_rng(seed).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    with pytest.raises(InvalidImage):
        decode_image(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_files_are_invalid(fmt: str, keep: float) -> None:
    rgb = _rgba(64, 64, seed=1)[..., :3]
    data = _save(Image.fromarray(rgb, "RGB"), fmt)
    with pytest.raises(InvalidImage):
        decode_image(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    ("width", "height"),
    [(100_000, 100_000), (10_000, 10_000), (7_000, 7_000), (1, 50_000_000)],
)
def test_png_bombs_are_refused_before_decoding(width: int, height: int) -> None:
    data = _png_header_only(width, height)
    assert len(data) < 100
    with pytest.raises(ImageTooLarge):
        decode_image(data)


def test_gif_with_a_huge_logical_screen_is_refused() -> None:
    data = bytearray(_save(Image.new("P", (4, 4)), "GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)
    with pytest.raises(ImageTooLarge):
        decode_image(bytes(data))


def test_pixel_limit_is_exact() -> None:
    data = _save(Image.new("RGB", (40, 25)), "PNG")
    assert decode_image(data, max_pixels=1000).size == (40, 25)
    with pytest.raises(ImageTooLarge, match="40x25 = 1000 pixels, over the limit of 999"):
        decode_image(data, max_pixels=999)
    with pytest.raises(ValueError):
        decode_image(data, max_pixels=0)


_SEEDS = {
    "PNG": _save(Image.fromarray(_rgba(12, 9, seed=5), "RGBA"), "PNG"),
    "JPEG": _save(Image.fromarray(_rgba(12, 9, seed=5)[..., :3], "RGB"), "JPEG"),
    "WEBP": _save(Image.fromarray(_rgba(12, 9, seed=5), "RGBA"), "WEBP"),
    "GIF": _save(Image.fromarray(_rgba(12, 9, seed=5)[..., :3], "RGB"), "GIF"),
    "BMP": _save(Image.fromarray(_rgba(12, 9, seed=5), "RGBA"), "BMP"),
    "TIFF": _save(Image.fromarray(_rgba(12, 9, seed=5), "RGBA"), "TIFF", compression="tiff_lzw"),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(sorted(_SEEDS)),
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=8,
    ),
    cut=st.none() | st.integers(min_value=1),
)
def test_mutated_files_decode_or_raise_invalid_image(
    fmt: str, edits: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(_SEEDS[fmt])
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data) + 1]
    try:
        decoded = decode_image(bytes(data), max_pixels=1_000_000)
    except InvalidImage:  # ImageTooLarge included
        return
    assert decoded.rgba.dtype == np.uint8
    assert decoded.rgba.ndim == 3 and decoded.rgba.shape[2] == 4
    assert decoded.rgba.shape[0] * decoded.rgba.shape[1] <= 1_000_000


# -- encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_encode_is_lossless_even_under_zero_alpha(fmt: str) -> None:
    rgba = _rgba(33, 17, seed=9)
    rgba[::3, ::2, 3] = 0  # hidden colours must survive too
    data = encode_image(rgba, fmt)
    assert np.array_equal(decode_image(data).rgba, rgba)


def test_encode_rejects_bad_arrays_and_formats() -> None:
    with pytest.raises(ValueError, match="H x W x 4 uint8"):
        encode_image(np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="H x W x 4 uint8"):
        encode_image(np.zeros((4, 4, 4), dtype=np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported output format 'jpeg'"):
        encode_image(np.zeros((4, 4, 4), dtype=np.uint8), "jpeg")
