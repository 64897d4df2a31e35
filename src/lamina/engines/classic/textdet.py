"""Text lines found by a learned detector (PP-OCRv6 DBNet, run with onnxruntime).

Letters cannot be told from confetti, icons or stripes by their shape alone;
a text detector trained on real scenes and documents can. The model ships in
the ``rapidocr`` wheel (no download at run time); only its detection network
is used, through onnxruntime on the CPU, and nothing of rapidocr is imported.

The network returns a map of "text kernel" probability; DBNet kernels are
shrunk copies of the text regions, so each kernel is grown back by
``area * UNCLIP / perimeter`` (the paper's unclip distance) to cover its line.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

MODEL_FILE = "PP-OCRv6_det_small.onnx"
THRESHOLD = 0.3
"""Kernel pixels: probability above this (DBNet's binarisation threshold)."""
BOX_SCORE = 0.6
"""A kernel is a text line when its mean probability reaches this."""
MIN_ELONGATION = 1.8
"""A line's kernel is at least this many times longer than thick: the network also
fires on compact blobs (a square, a disc), which are shapes, not words."""
UNCLIP = 1.6
"""DBNet's unclip ratio: how far a kernel is grown back, relative to area / perimeter."""
_lock = threading.Lock()


def model_path() -> Path | None:
    """The detection model ``LAMINA_TEXT_MODEL`` names, if it is installed; detection is opt-in.

    ``rapidocr`` takes the model from the rapidocr wheel (``pip install 'lamina[text]'``);
    any other value is the path of a DBNet ONNX file. Unset or ``none``: no detection,
    and text is found by the shape of its letters alone (measured better on the
    benchmark sets so far; see docs/benchmarks.md).
    """
    choice = os.environ.get("LAMINA_TEXT_MODEL", "none")
    if choice == "none":
        return None
    if choice != "rapidocr":
        return Path(choice) if Path(choice).is_file() else None
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_FILE
    return path if path.is_file() else None


@cache
def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = min(4, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def available() -> bool:
    """Whether the detector can run here (onnxruntime and the model are installed)."""
    return model_path() is not None and importlib.util.find_spec("onnxruntime") is not None


def text_probability(rgb: NDArray[np.float32]) -> NDArray[np.float32]:
    """Per-pixel text-kernel probability of an ``H x W x 3`` RGB image in 0..1.

    The image is padded to multiples of 32 (the network's stride) with edge
    pixels; the result has the input's size.
    """
    path = model_path()
    if path is None:
        raise RuntimeError("no text detection model: set LAMINA_TEXT_MODEL=rapidocr")
    h, w = rgb.shape[:2]
    ph, pw = -h % 32, -w % 32
    padded = cv2.copyMakeBorder(rgb, 0, max(ph, 0), 0, max(pw, 0), cv2.BORDER_REPLICATE)
    if padded.shape[0] < 32 or padded.shape[1] < 32:
        padded = cv2.copyMakeBorder(
            padded,
            0,
            max(0, 32 - padded.shape[0]),
            0,
            max(0, 32 - padded.shape[1]),
            cv2.BORDER_REPLICATE,
        )
    # The network was trained on BGR images scaled to -1..1 (rapidocr's DetPreProcess).
    x = (padded[..., ::-1] * 2.0 - 1.0).transpose(2, 0, 1)[None].astype(np.float32)
    session = _session(path)
    with _lock:
        out = session.run(None, {session.get_inputs()[0].name: x})[0]
    return np.ascontiguousarray(out[0, 0, :h, :w], dtype=np.float32)


def text_lines(rgb: NDArray[np.float32]) -> NDArray[np.int32]:
    """Label map of detected text lines (``0`` = no text, ``1..n`` = one line each).

    ``rgb`` is ``H x W x 3`` float RGB in 0..1 at the working resolution; each
    line's region covers its letters with a margin of about a stroke.
    """
    prob = text_probability(rgb)
    kernels = (prob > THRESHOLD).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(kernels, connectivity=4)
    out = np.zeros(prob.shape, np.int32)
    h, w = prob.shape
    line = 0
    for k in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[k])
        if area < 6 or min(bw, bh) < 2:
            continue
        ys, xs = slice(y, y + bh), slice(x, x + bw)
        mine = labels[ys, xs] == k
        if float(prob[ys, xs][mine].mean()) < BOX_SCORE:
            continue
        points = np.column_stack(np.nonzero(mine))[:, ::-1].astype(np.float32)
        _, (rw, rh), _ = cv2.minAreaRect(points)
        if max(rw, rh) < MIN_ELONGATION * max(1.0, min(rw, rh)):
            continue
        perimeter = 2.0 * (bw + bh)
        grow = max(1, round(area * UNCLIP / perimeter))
        y0, y1 = max(0, y - grow), min(h, y + bh + grow)
        x0, x1 = max(0, x - grow), min(w, x + bw + grow)
        patch = np.zeros((y1 - y0, x1 - x0), np.uint8)
        patch[y - y0 : y - y0 + bh, x - x0 : x - x0 + bw] = mine
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * grow + 1, 2 * grow + 1))
        grown = cv2.dilate(patch, kernel).astype(bool)
        line += 1
        region = out[y0:y1, x0:x1]
        region[grown & (region == 0)] = line
    return out
