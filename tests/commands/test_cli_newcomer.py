"""What a newcomer meets on the command line: clear one-line errors instead of tracebacks
(busy port, missing extra, a key store that is not there), defaults shown in help, engine
notes said once, and ``scripts/setup`` skipping a reinstall when nothing changed."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamina.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    pythonpath = os.pathsep.join([str(REPO / "src"), str(REPO)])
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")},
        "PYTHONPATH": pythonpath,
    }


def test_a_busy_port_is_one_line_and_never_claims_to_be_serving(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data_args = ["--data-dir", str(tmp_path / "data"), "--workers", "0"]
        done = subprocess.run(
            [sys.executable, "-m", "lamina.cli", "serve", "--port", str(port), *data_args],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"lamina: error: port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "serving on" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # nothing was set up for a server that cannot run


@pytest.mark.parametrize(
    ("module", "argv", "extra"),
    [
        (
            "psycopg",
            ["keys", "list", "--database-url", "postgresql://u@127.0.0.1:1/db"],
            "postgres",
        ),
        ("psycopg", ["serve", "--database-url", "postgresql://u@127.0.0.1:1/db"], "postgres"),
        ("boto3", ["worker", "--storage", "s3://bucket/lamina"], "s3"),
    ],
)
def test_a_missing_extra_says_what_to_install(
    module: str,
    argv: list[str],
    extra: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"needs {module}, which is not installed: pip install 'lamina[{extra}]'" in err


def test_keys_list_refuses_a_store_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "elsewhere"
    assert main(["keys", "list", "--data-dir", str(data)]) == 2
    assert f"no job store at {(data / 'lamina.db').resolve()}" in capsys.readouterr().err
    assert not data.exists()  # no empty store left behind
    assert main(["keys", "revoke", "k1", "--data-dir", str(data)]) == 2
    assert main(["keys", "create", "--name", "ci", "--data-dir", str(data)]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--data-dir", str(data)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("active  ci")


def test_serve_help_shows_the_workers_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--workers WORKERS worker processes started by serve (default 1; 0: API only)" in (
        help_text
    )


def test_notes_on_ignored_parameters_are_said_once_and_kept_in_layers_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, name in enumerate(("a.png", "b.png")):
        rgba = np.full((24, 24, 4), 255, dtype=np.uint8)
        rgba[4 + i : 14, 6:18, :3] = (200, 30, 30)
        Image.fromarray(rgba, "RGBA").save(tmp_path / name)
    argv = ["decompose", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-n", "2"]
    assert main([*argv, "-o", str(tmp_path / "out"), "-q", "--seed", "5", "--prompt", "x"]) == 0
    err = capsys.readouterr().err
    prompt_note = "lamina: note: classic engine ignores prompt"
    assert err.count(prompt_note) == 1
    assert err.count("lamina: note: classic engine is deterministic: seed only") == 1
    for name in ("a", "b"):
        notes = json.loads((tmp_path / "out" / name / "layers.json").read_text())["notes"]
        assert "classic engine ignores prompt" in notes
        assert any(note.startswith("classic engine is deterministic") for note in notes)


def test_setup_skips_the_install_when_nothing_changed(tmp_path: Path) -> None:
    """``scripts/setup`` (run by ``scripts/serve``) against a stand-in ``python3`` that records
    what would have been installed."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup", tmp_path / "scripts" / "setup")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    # python3 -m venv .venv makes a .venv whose python and pip log their arguments; an
    # editable install makes .venv/bin/lamina, as pip would
    shim = f"""#!/usr/bin/env bash
echo "$(basename "$0") $*" >> {log}
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p .venv/bin
  cp "$0" .venv/bin/python && cp "$0" .venv/bin/pip
fi
case " $* " in *" -e "*) touch .venv/bin/lamina && chmod +x .venv/bin/lamina ;; esac
"""
    (bin_dir / "python3").write_text(shim)
    (bin_dir / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("LAMINA_REINSTALL", None)

    def setup(*args: str, **extra: str) -> str:
        done = subprocess.run(
            ["bash", str(tmp_path / "scripts" / "setup"), *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stderr

    def installs() -> int:
        return log.read_text().count(" -e ") if log.exists() else 0

    setup()
    assert installs() == 1
    assert "up to date" in setup() and installs() == 1  # a restart: no reinstall
    setup("test")
    assert installs() == 2  # the test extras were not installed yet
    assert "up to date" in setup() and installs() == 2  # a test install covers serve
    setup(LAMINA_REINSTALL="1")
    assert installs() == 3
    with (tmp_path / "pyproject.toml").open("a") as f:
        f.write("\n# a new dependency\n")
    setup()
    assert installs() == 4


@pytest.mark.parametrize("host", ["192.0.2.1", "no-such-host.invalid"])
def test_an_address_that_is_not_ours_is_one_line(host: str) -> None:
    from lamina.api.server import bind
    from lamina.errors import LaminaError

    with pytest.raises(LaminaError, match=f"^cannot listen on {host}:0: "):
        bind(host, 0)
