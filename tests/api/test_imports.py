"""Dependency direction: the API never loads torch or an engine; the client loads no server
code (FastAPI, SQL)."""

from __future__ import annotations

import json
import subprocess
import sys


def _loaded(statement: str, names: list[str]) -> list[str]:
    found = f"[n for n in {names!r} if n in sys.modules]"
    code = f"import json, sys; {statement}; print(json.dumps({found}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


def test_the_api_does_not_load_torch_or_engines() -> None:
    statement = "import lamina.api.app, lamina.api.server"
    assert _loaded(statement, ["torch", "diffusers", "lamina.engines"]) == []


def test_the_client_loads_only_wire_schemas() -> None:
    loaded = _loaded("import lamina.client", ["fastapi", "sqlalchemy", "starlette", "lamina.jobs"])
    assert loaded == []
