"""The README's quick start, run verbatim against a real ``lamina serve`` (classic engine, the
defaults a newcomer gets); only the host and the token are swapped for the test's own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pptx import Presentation
from psd_tools import PSDImage
from tests.support import REPO
from tests.support.inputs import design, png_bytes
from tests.support.server import Server, start_server

from lamina.imaging.composite import composite_uint8

README_HOST = "http://127.0.0.1:8000"
README_TOKEN = "lam_..."
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)


def readme_blocks() -> dict[str, list[tuple[str, str]]]:
    """``{heading: [(language, code), ...]}`` for every fenced block of README.md."""
    text = (REPO / "README.md").read_text()
    blocks: dict[str, list[tuple[str, str]]] = {}
    heading = ""
    pos = 0
    for match in FENCE.finditer(text):
        for line in text[pos : match.start()].splitlines():
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
        blocks.setdefault(heading, []).append((match.group(1), match.group(2)))
        pos = match.end()
    return blocks


BLOCKS = readme_blocks()


def block(heading: str, index: int = 0, language: str = "bash") -> str:
    found = BLOCKS.get(heading, [])
    assert len(found) > index, f"README.md has no block {index} under {heading!r}"
    lang, code = found[index]
    assert lang == language, (heading, lang)
    return code


@pytest.fixture(scope="module")
def classic_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("readme"), extra=["--engine", "classic"])
    yield srv
    srv.stop()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder as a newcomer's: ``poster.png`` and ``.venv`` (the environment running us)."""
    (tmp_path / "poster.png").write_bytes(png_bytes(design(64, seed=11)))
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    return tmp_path


def shell(server: Server, cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
    """The README's set-up block then ``code``, in bash, as pasted into a terminal."""
    setup = block("Quick start", 2)
    assert "export TOKEN=lam_..." in setup and "source .venv/bin/activate" in setup
    script = "set -e\n" + (setup + code).replace(README_HOST, server.url)
    script = script.replace(README_TOKEN, server.key)
    env = {**os.environ, "PYTHONPATH": server.env["PYTHONPATH"]}
    done = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


def _reassembles(folder: Path, poster: Path, count: int = 4) -> None:
    layers = [np.asarray(Image.open(folder / f"layer_{i:02d}.png")) for i in range(count)]
    expected = np.asarray(Image.open(poster).convert("RGBA")).astype(int)
    assert np.abs(composite_uint8(layers).astype(int) - expected).max() <= 3
    manifest = json.loads((folder / "layers.json").read_text())
    assert [entry["file"] for entry in manifest["layers"]] == [
        f"layer_{i:02d}.png" for i in range(count)
    ]


def test_the_first_start_prints_the_key_line_the_readme_shows(classic_server: Server) -> None:
    shown = block("Quick start", 1, language="").strip()
    assert shown == "lamina: API key: lam_..."
    assert f"lamina: API key: {classic_server.key}" in classic_server.output()


def test_curl_upload_submit_poll_download(classic_server: Server, workdir: Path) -> None:
    shell(classic_server, workdir, block("With curl: upload, submit, poll, download"))
    _reassembles(workdir / "out", workdir / "poster.png")


def test_curl_data_uri_one_liner(classic_server: Server, workdir: Path) -> None:
    done = shell(classic_server, workdir, block("With curl: upload, submit, poll, download", 1))
    answer = json.loads(done.stdout)
    assert answer["request_id"] and answer["result_url"].startswith(classic_server.url)


def test_python_client_block(classic_server: Server, workdir: Path) -> None:
    code = block("With the Python client", language="python")
    done = shell(classic_server, workdir, f"python - <<'EOF'\n{code}EOF\n")
    expected = [f"layer_{i:02d}.png" for i in range(4)] + ["layers.json"]
    assert done.stdout.strip() == repr([*expected, "layers.psd", "layers.pptx"])
    _reassembles(workdir / "out", workdir / "poster.png")
    assert len(PSDImage.open(workdir / "out" / "layers.psd")) == 4
    assert len(Presentation(str(workdir / "out" / "layers.pptx")).slides[0].shapes) == 4


def test_command_line_block(classic_server: Server, workdir: Path) -> None:
    done = shell(classic_server, workdir, block("With the command line (no server needed)"))
    expected = {f"layer_{i:02d}.png" for i in range(4)} | {"layers.json", "layers.psd"}
    folder, *listed = done.stdout.split()
    assert folder == "layers/poster" and set(listed) == expected | {"layers.pptx"}
    _reassembles(workdir / "layers" / "poster", workdir / "poster.png")
