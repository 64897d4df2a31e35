"""The Dockerfile and compose.yaml: checked as files everywhere, and validated by
``docker compose config`` where Docker Compose is installed (no image is built)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _compose_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return data


def _compose_command() -> list[str] | None:
    """``docker compose`` (v2) or ``docker-compose`` (v1), whichever answers, else ``None``."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        done = subprocess.run([*command, "version"], capture_output=True, timeout=30)
        if done.returncode == 0:
            return command
    return None


def _instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_the_image_is_cpu_only_non_root_and_health_checked() -> None:
    steps = _instructions()
    assert steps[0].startswith("FROM python:3.11-slim")
    runs = [step for step in steps if step.startswith("RUN ")]
    assert any("pip install '.[postgres,s3]'" in step for step in runs)
    assert not any("torch" in step or "qwen" in step for step in runs)  # CPU: classic only
    user = next(i for i, step in enumerate(steps) if step.startswith("USER "))
    assert steps[user] == "USER lamina"
    assert not any(step.startswith(("RUN ", "USER ")) for step in steps[user + 1 :])
    health = [step for step in steps if step.startswith("HEALTHCHECK ")]
    assert len(health) == 1 and "http://127.0.0.1:8000/healthz" in health[0]
    assert steps[-2:] == ['ENTRYPOINT ["lamina"]', 'CMD ["serve"]']


def test_compose_wires_api_two_workers_postgres_and_minio_consistently() -> None:
    compose = _compose_file()
    services = compose["services"]
    assert set(services) == {"api", "worker", "db", "minio", "bucket"}
    api, worker, db, minio = (services[n] for n in ("api", "worker", "db", "minio"))
    assert api["command"] == ["serve", "--workers", "0"]
    assert worker["command"] == ["worker"] and worker["deploy"]["replicas"] == 2
    for lamina in (api, worker):
        env = lamina["environment"]
        database = urlsplit(env["LAMINA_DATABASE_URL"])
        assert database.scheme == "postgresql" and database.hostname == "db"
        assert (database.username, database.password, database.path) == (
            db["environment"]["POSTGRES_USER"],
            db["environment"]["POSTGRES_PASSWORD"],
            "/" + db["environment"]["POSTGRES_DB"],
        )
        assert env["LAMINA_S3_ACCESS_KEY_ID"] == minio["environment"]["MINIO_ROOT_USER"]
        assert env["LAMINA_S3_SECRET_ACCESS_KEY"] == minio["environment"]["MINIO_ROOT_PASSWORD"]
        bucket = urlsplit(env["LAMINA_STORAGE"]).netloc
        assert f"local/{bucket}" in " ".join(services["bucket"]["entrypoint"])
        # the signing endpoint must be the address the host reaches MinIO at
        assert lamina["network_mode"] == "service:minio"
        assert env["LAMINA_S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"
        assert lamina["depends_on"]["db"]["condition"] == "service_healthy"
    assert {"127.0.0.1:8000:8000", "127.0.0.1:9000:9000"} <= set(minio["ports"])


def test_the_scale_out_doc_names_only_services_that_exist() -> None:
    doc = (REPO / "docs" / "scale-out.md").read_text()
    section = doc[doc.index("## On one host with Docker Compose") :]
    block = section[section.index("```sh") : section.index("```", section.index("```sh") + 5)]
    named = re.findall(r"docker compose (?:logs|exec|up -d --scale) (\w+)", block)
    assert set(named) == {"api", "worker"}
    assert set(named) <= set(_compose_file()["services"])


def test_docker_compose_config_validates() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("Docker Compose is not installed")
    done = subprocess.run(
        [*command, "-f", str(REPO / "compose.yaml"), "config", "--services"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {"api", "worker", "db", "minio", "bucket"}
