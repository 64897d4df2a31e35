"""The OpenAPI document matches the live server: a bounded schemathesis run of every check
against a real ``lamina serve`` finds no server error, no undocumented status, content
type or header, and no answer that breaks its documented schema.

One check is left out: ``positive_data_acceptance`` expects every schema-valid request to
succeed, but a schema cannot say that an ``image_url`` resolves to a public host and holds
an image, that a model id names a served model or that a cursor came from a previous page;
those answers are the documented 400001.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.server import start_server


def test_schemathesis_finds_no_mismatch_against_the_live_server(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "serve",
        extra=["--workers", "0"],  # the queued jobs stay queued
        env={"LAMINA_RATE_LIMIT_PER_MINUTE": "0"},
    )
    try:
        run = subprocess.run(
            [
                *(sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json"),
                *("--header", f"Authorization: Bearer {server.key}"),
                *("--checks", "all", "--exclude-checks", "positive_data_acceptance"),
                *("--max-examples", "10", "--seed", "1", "--generation-database", "none"),
                *("--request-timeout", "10", "--no-color"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", run.stdout)
    assert selected is not None, run.stdout[-3000:]
    assert len(set(selected.groups())) == 1, selected.group(0)  # every operation ran
    assert "Traceback" not in server.output()
