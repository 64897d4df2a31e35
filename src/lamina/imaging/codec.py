"""Decode untrusted image bytes into RGBA arrays, and encode layers back.

Decoding is where hostile input arrives, so it checks the pixel count from the
header *before* pixels are decoded, sniffs the format from the bytes (never a
file name), applies EXIF orientation and normalises every mode (palette,
grayscale, 16-bit, CMYK, with or without alpha) to 8-bit straight RGBA.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from lamina import defaults
from lamina.errors import ImageTooLarge, InvalidImage

DEFAULT_MAX_PIXELS = defaults.MAX_PIXELS
SUPPORTED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})
_PIL_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG's opener also yields MPO


@dataclass(frozen=True)
class DecodedImage:
    """An input image as 8-bit straight RGBA plus what is known of its source."""

    rgba: NDArray[np.uint8]
    format: str
    has_alpha: bool

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.rgba.shape[1], self.rgba.shape[0]


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode ``data`` into an ``H x W x 4`` ``uint8`` RGBA array.

    Raises :class:`InvalidImage` for anything that is not a supported, intact
    image and :class:`ImageTooLarge` when ``width * height > max_pixels``; no
    other exception escapes, whatever the bytes. GIF, APNG, WebP animations and
    multi-page TIFFs give their first frame. Pillow's own bomb guard still
    refuses images over ``2 * PIL.Image.MAX_IMAGE_PIXELS`` (about 179 MP).
    """
    if max_pixels < 1:
        raise ValueError("max_pixels must be positive")
    if not data:
        raise InvalidImage("the input is empty")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit, checked below before any pixel is decoded, is the one that
            # counts; Pillow's warnings about corrupt metadata in hostile files are noise.
            warnings.simplefilter("ignore")
            # Only our formats' parsers ever see the bytes (EPS, for one, would run Ghostscript).
            img: Image.Image = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
            fmt = img.format or ""
            if fmt not in SUPPORTED_FORMATS:
                raise InvalidImage(
                    f"unsupported image format {fmt or 'unknown'}; "
                    "use PNG, JPEG, WebP, GIF, BMP or TIFF"
                )
            width, height = img.size
            if width < 1 or height < 1:
                raise InvalidImage("the image has no pixels")
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"image is {width}x{height} = {width * height} pixels, "
                    f"over the limit of {max_pixels}"
                )
            img.load()  # the first frame only
            icc = img.info.get("icc_profile")
            img = ImageOps.exif_transpose(img) or img
            if isinstance(icc, bytes) and icc:
                img = _to_srgb(img, icc)
            rgba, has_alpha = _to_rgba(img)
    except (ImageTooLarge, InvalidImage):
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image rejected as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage(
            "the input is not a recognisable image; use PNG, JPEG, WebP, GIF, BMP or TIFF"
        ) from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error) as exc:
        raise InvalidImage(f"the image is corrupt or truncated: {exc}") from exc
    except Exception as exc:
        # Hostile bytes reach corners of the format plug-ins that raise anything at all
        # (KeyError, TypeError, ZeroDivisionError, ...); callers rely on one error type.
        raise InvalidImage(f"the image could not be decoded ({type(exc).__name__}: {exc})") from exc
    return DecodedImage(rgba=rgba, format="JPEG" if fmt == "MPO" else fmt, has_alpha=has_alpha)


_ICC_MODES = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB", "L": "RGB"}  # input -> output mode


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    """Convert from the embedded ICC profile to sRGB, which the layer files are read as.

    Wide-gamut photos (Display P3, Adobe RGB) and print CMYK would otherwise
    lose their colours. sRGB profiles are skipped (the conversion is the
    identity up to rounding); a profile that is corrupt or does not fit the
    image's mode is ignored and the pixels are taken as sRGB, as browsers do.
    """
    out_mode = _ICC_MODES.get(img.mode)
    if out_mode is None:
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if ImageCms.getProfileDescription(source).strip().lower().startswith("srgb"):
            return img
        transform = ImageCms.buildTransform(
            source, ImageCms.createProfile("sRGB"), img.mode, out_mode
        )
        return ImageCms.applyTransform(img, transform) or img
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return img


def _to_rgba(img: Image.Image) -> tuple[NDArray[np.uint8], bool]:
    """Normalise any Pillow mode to 8-bit straight RGBA; report whether alpha was present."""
    mode = img.mode
    transparency = img.info.get("transparency")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode in ("P", "L", "RGB", "I", "I;16", "I;16B", "I;16L", "I;16N")
        and transparency is not None
    )
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _gray_to_rgba(img, transparency), has_alpha
    if mode == "LAB":
        lab_to_srgb = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        img = ImageCms.applyTransform(img, lab_to_srgb) or img
    elif mode == "La":
        img = img.convert("LA")
    elif mode == "CMYK":
        img = img.convert("RGB")
    converted = img.convert("RGBA")
    return np.array(converted, dtype=np.uint8), has_alpha


def _gray_to_rgba(img: Image.Image, transparency: object) -> NDArray[np.uint8]:
    """Scale 16-bit, 32-bit integer or float grayscale to 8 bits.

    16-bit modes use their full range; ``I`` uses 0..65535 when a value exceeds
    255, else 0..255; ``F`` uses 0..1 when every value fits, else 0..255.
    A ``transparency`` grey value (PNG ``tRNS``) becomes alpha 0.
    """
    arr = np.asarray(img, dtype=np.float64)
    arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    top = float(arr.max(initial=0.0))
    if img.mode.startswith("I;16"):
        peak = 65535.0
    elif img.mode == "F":
        peak = 1.0 if top <= 1.0 else 255.0
    else:
        peak = 65535.0 if top > 255 else 255.0
    gray = np.clip(np.rint(arr / peak * 255.0), 0, 255).astype(np.uint8)
    rgba = np.empty((*gray.shape, 4), dtype=np.uint8)
    rgba[..., :3] = gray[..., None]
    rgba[..., 3] = 255
    if isinstance(transparency, int):
        rgba[np.asarray(img) == transparency, 3] = 0
    return rgba


def encode_image(rgba: NDArray[np.uint8], fmt: str = "png") -> bytes:
    """Encode an ``H x W x 4`` ``uint8`` RGBA array losslessly as PNG or WebP."""
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError("expected an H x W x 4 uint8 RGBA array")
    img = Image.fromarray(rgba, "RGBA")
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, format="PNG", compress_level=3)
    elif fmt == "webp":
        img.save(buf, format="WEBP", lossless=True, quality=80, method=3, exact=True)
    else:
        raise ValueError(f"unsupported output format {fmt!r}")
    return buf.getvalue()


MEDIA_TYPES = {fmt: defaults.MEDIA_TYPES[fmt] for fmt in ("png", "webp")}
