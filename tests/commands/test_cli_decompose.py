"""``lamina decompose`` as users run it: the installed script, real files, the classic engine."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from pptx import Presentation
from psd_tools import PSDImage

from lamina.imaging.codec import decode_image
from lamina.imaging.composite import composite_uint8

LAMINA = Path(sys.executable).with_name("lamina")
LAYER_FILES = [f"layer_0{i}.png" for i in range(4)]


def _design(width: int = 96, height: int = 64, shift: int = 0) -> NDArray[np.uint8]:
    """A flat design: tinted background, a rectangle and a disc."""
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[...] = (235, 230 - shift, 220)
    rgb[8:30, 10 + shift : 50 + shift] = (30, 90, 200)
    yy, xx = np.mgrid[:height, :width]
    rgb[(yy - 42) ** 2 + (xx - 70) ** 2 < 14**2] = (220, 40, 40)
    return rgb


def _write(path: Path, rgb: NDArray[np.uint8], **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb, "RGB").save(path, **options)
    return path


def _lamina(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LAMINA), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _reconstruction_error(folder: Path, rgb: NDArray[np.uint8], names: list[str]) -> float:
    layers = [decode_image((folder / name).read_bytes()).rgba for name in names]
    out = composite_uint8(layers)
    return float(np.abs(out[..., :3].astype(int) - rgb.astype(int)).mean())


def test_single_file(tmp_path: Path) -> None:
    rgb = _design()
    _write(tmp_path / "poster.png", rgb)
    result = _lamina("decompose", "poster.png", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "poster"
    assert result.stdout.split() == [str(Path("out") / "poster")]
    assert _files(folder) == [*LAYER_FILES, "layers.json"]
    assert _files(tmp_path / "out") == ["poster"]

    body = json.loads((folder / "layers.json").read_text())
    assert (body["width"], body["height"]) == (96, 64)
    assert body["engine"] == "classic"
    assert body["parameters"]["num_layers"] == 4
    assert [entry["file"] for entry in body["layers"]] == LAYER_FILES
    assert {"decode", "engine", "total"} <= set(body["timings"])
    for name in LAYER_FILES:
        assert decode_image((folder / name).read_bytes()).size == (96, 64)
    assert _reconstruction_error(folder, rgb, LAYER_FILES) < 2.0


def test_folder_and_recursive_folder(tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    _write(shots / "a.png", _design())
    _write(shots / "b.jpg", _design(shift=5), quality=95)
    _write(shots / "deeper" / "c.webp", _design(shift=9), lossless=True)
    _write(shots / ".hidden.png", _design())
    (shots / "notes.txt").write_text("not an image")

    flat = _lamina("decompose", "shots", "-n", "2", "-o", "flat", "-q", cwd=tmp_path)
    assert flat.returncode == 0, flat.stderr
    assert flat.stdout == ""  # --quiet
    assert _files(tmp_path / "flat") == ["a", "b"]

    deep = _lamina("decompose", "shots", "-r", "-n", "2", "-o", "deep", cwd=tmp_path)
    assert deep.returncode == 0, deep.stderr
    assert _files(tmp_path / "deep") == ["a", "b", "c"]
    assert _files(tmp_path / "deep" / "c") == ["layer_00.png", "layer_01.png", "layers.json"]


def test_glob_expanded_by_lamina_and_webp_output(tmp_path: Path) -> None:
    for name, shift in (("x1", 0), ("x2", 4)):
        _write(tmp_path / "in" / f"{name}.png", _design(shift=shift))
    _write(tmp_path / "in" / "y.jpg", _design(), quality=90)
    result = _lamina(
        "decompose", "in/x*.png", "--format", "webp", "-n", "3", "-o", "out", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert _files(tmp_path / "out") == ["x1", "x2"]
    webp = [f"layer_0{i}.webp" for i in range(3)]
    assert _files(tmp_path / "out" / "x1") == [*webp, "layers.json"]
    for name in webp:
        assert decode_image((tmp_path / "out" / "x1" / name).read_bytes()).format == "WEBP"
    body = json.loads((tmp_path / "out" / "x1" / "layers.json").read_text())
    assert body["parameters"]["output_format"] == "webp"
    assert _reconstruction_error(tmp_path / "out" / "x2", _design(shift=4), webp) < 2.0


def test_all_three_exports(tmp_path: Path) -> None:
    _write(tmp_path / "card.png", _design())
    result = _lamina(
        "decompose", "card.png", "--export", "zip,psd", "--export", "pptx", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "layers" / "card"  # the default OUTDIR
    assert _files(folder) == [
        *LAYER_FILES,
        "layers.json",
        "layers.pptx",
        "layers.psd",
        "layers.zip",
    ]
    body = json.loads((folder / "layers.json").read_text())
    assert body["exports"] == {"zip": "layers.zip", "psd": "layers.psd", "pptx": "layers.pptx"}
    names = [entry["name"] for entry in body["layers"]]

    with zipfile.ZipFile(folder / "layers.zip") as zf:
        assert zf.namelist() == [*LAYER_FILES, "layers.json"]
        assert zf.read("layer_02.png") == (folder / "layer_02.png").read_bytes()
    psd = PSDImage.open(folder / "layers.psd")
    assert psd.size == (96, 64)
    assert [layer.name for layer in psd] == names
    deck = Presentation(io.BytesIO((folder / "layers.pptx").read_bytes()))
    # 96 x 64 px at 96 dpi is 1 x 0.67 in, scaled up to PowerPoint's 1 inch minimum
    assert (deck.slide_width, deck.slide_height) == (1_371_600, 914_400)
    assert [shape.name for shape in deck.slides[0].shapes] == names


def test_bad_inputs_in_a_batch_are_reported_and_the_rest_is_written(tmp_path: Path) -> None:
    rgb = _design()
    _write(tmp_path / "good.png", rgb)
    (tmp_path / "junk.png").write_bytes(b"this is not a png")
    jpeg = _write(tmp_path / "cut.jpg", rgb, quality=90).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    result = _lamina(
        "decompose", "junk.png", "missing.png", "good.png", "cut.jpg", "-o", "out", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "junk.png: the input is not a recognisable image" in result.stderr
    assert "missing.png: no such file or folder" in result.stderr
    assert "cut.jpg: the image is corrupt or truncated" in result.stderr
    assert "Traceback" not in result.stderr
    assert _files(tmp_path / "out") == ["good"]
    assert _files(tmp_path / "out" / "good") == [*LAYER_FILES, "layers.json"]


def test_colliding_stems_and_rerun_keep_folders_clean(tmp_path: Path) -> None:
    _write(tmp_path / "a.png", _design())
    _write(tmp_path / "a.jpg", _design(shift=3), quality=95)
    _write(tmp_path / "other" / "a.png", _design(shift=6))
    first = _lamina(
        "decompose", "a.png", "a.jpg", "other/a.png", "-n", "5", "-o", "o", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert _files(tmp_path / "o") == ["a.jpg", "a.png", "a.png-2"]
    # a second run with fewer layers replaces lamina's files and keeps the user's
    (tmp_path / "o" / "a.png" / "mine.txt").write_text("keep me")
    again = _lamina("decompose", "a.png", "a.jpg", "-n", "2", "-o", "o", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _files(tmp_path / "o" / "a.png") == [
        "layer_00.png",
        "layer_01.png",
        "layers.json",
        "mine.txt",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "11"], "num_layers must be between 1 and 10"),
        (["--export", "gif"], "unknown export 'gif'"),
        (["--engine", "nope"], "unknown engine 'nope'"),
        (["--format", "jpeg"], "invalid choice: 'jpeg'"),
    ],
)
def test_usage_errors_exit_2_without_writing(tmp_path: Path, args: list[str], message: str) -> None:
    _write(tmp_path / "a.png", _design())
    result = _lamina("decompose", "a.png", "-o", "out", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_no_input_found_exits_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _lamina("decompose", "empty", "*.png", "-o", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert "empty: no images in this folder" in result.stderr
    assert "*.png: no file matches" in result.stderr
    assert "no input image found" in result.stderr
    assert not (tmp_path / "out").exists()


def test_help_does_not_import_heavy_modules(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(LAMINA), "decompose", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert "exit codes" in result.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()}
    assert "lamina" in imported
    assert imported.isdisjoint({"cv2", "scipy", "torch", "fastapi", "PIL", "sqlalchemy", "tqdm"})
