"""The HTTP layer over the service: error shapes, body limits, auth on every route but
``/healthz`` and the signed files, metrics and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.support.inputs import data_uri, png
from tests.support.pg import temporary_database
from tests.support.service import Env, make_env

from lamina.api.app import create_app
from lamina.api.errors import answer_for

SUBMIT = "/v1/models/qwen/qwen-image-layered"


@pytest.fixture
def app_env(tmp_path: Path) -> Iterator[tuple[TestClient, Env]]:
    env = make_env(tmp_path, max_input_bytes=3_000, rate_limit_per_minute=30)
    with TestClient(create_app(env.settings, service=env.service)) as client:
        client.headers["Authorization"] = f"Bearer {env.secret}"
        yield client, env
    env.store.dispose()


def test_schema_violations_name_each_field(app_env: tuple[TestClient, Env]) -> None:
    client, _ = app_env
    answer = client.post(
        SUBMIT,
        json={"image_url": data_uri(png()), "num_inference_steps": "many", "seed": 1.5, "x": 1},
    )
    assert answer.status_code == 422
    body = answer.json()
    assert body["error_code"] == 422001
    assert {d["field"] for d in body["detail"]} == {"num_inference_steps", "seed", "x"}
    missing = client.post(SUBMIT, json={"num_layers": 2}).json()
    assert [d["field"] for d in missing["detail"]] == ["image_url"]


def test_prompts_are_capped_and_the_answer_names_the_field(
    app_env: tuple[TestClient, Env],
) -> None:
    client, _ = app_env
    image = data_uri(png())
    at_cap = client.post(SUBMIT, json={"image_url": image, "prompt": "p" * 4000})
    assert at_cap.status_code == 200
    for field in ("prompt", "negative_prompt"):
        answer = client.post(SUBMIT, json={"image_url": image, field: "p" * 4001})
        body = answer.json()
        assert (answer.status_code, body["error_code"]) == (422, 422001)
        assert [(d["field"], d["type"]) for d in body["detail"]] == [(field, "string_too_long")]
        assert field in body["error_message"]


def test_a_percent_encoded_data_uri_over_the_limit_is_a_413_naming_its_size(
    app_env: tuple[TestClient, Env],
) -> None:
    client, env = app_env
    limit = env.settings.max_input_bytes
    answer = client.post(SUBMIT, json={"image_url": "data:image/png," + "%00" * (limit + 1)})
    assert (answer.status_code, answer.json()["error_code"]) == (413, 413001)
    assert f"holds {limit + 1} bytes" in answer.json()["error_message"]


def test_bodies_over_the_limit_are_refused_while_streaming(
    app_env: tuple[TestClient, Env],
) -> None:
    client, env = app_env
    limit = env.settings.max_input_bytes * 4 // 3 + 64 * 1024
    declared = client.post(SUBMIT, content=b"x" * (limit + 1))
    assert (declared.status_code, declared.json()["error_code"]) == (413, 413001)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(limit // 10_000 + 2):
            yield b"x" * 10_000

    streamed = client.post(SUBMIT, content=chunks(), headers={"Content-Type": "application/json"})
    assert (streamed.status_code, streamed.json()["error_code"]) == (413, 413001)
    assert client.get("/healthz").status_code == 200


def test_rate_limited_answers_carry_retry_after(app_env: tuple[TestClient, Env]) -> None:
    client, _ = app_env
    codes = [client.get("/v1/models").status_code for _ in range(31)]
    assert codes[:29] == [200] * 29 and codes[-1] == 429
    limited = client.get("/v1/models")
    assert limited.json()["error_code"] == 429001 and limited.headers["retry-after"] == "2"


def test_health_metrics_and_docs(app_env: tuple[TestClient, Env]) -> None:
    client, _ = app_env
    client.post(SUBMIT, json={"image_url": data_uri(png())})
    health = client.get("/healthz", headers={"Authorization": ""}).json()
    assert health == {"status": "ok", "database": "ok", "storage": "ok"}
    metrics = client.get("/metrics").text
    assert "lamina_queue_depth 1.0" in metrics
    assert 'lamina_jobs{state="in_queue"} 1.0' in metrics
    assert "lamina_workers_alive 0.0" in metrics and "lamina_workers_busy 0.0" in metrics
    for state in ("completed", "failed", "cancelled"):
        assert f'lamina_job_duration_seconds_bucket{{le="+Inf",state="{state}"}} 0.0' in metrics
    assert 'lamina_job_run_seconds_count{state="failed"} 0.0' in metrics
    assert 'lamina_job_queue_wait_seconds_bucket{le="0.01"} 0.0' in metrics
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/models/{model_id}" in paths and "/v1/requests/{request_id}/cancel" in paths
    assert client.get("/docs").status_code == 200


def test_status_leaves_out_what_does_not_apply(app_env: tuple[TestClient, Env]) -> None:
    client, _ = app_env
    submitted = client.post(SUBMIT, json={"image_url": data_uri(png())}).json()
    status = client.get(submitted["status_url"].removeprefix("http://testserver")).json()
    assert set(status) == {"request_id", "status", "status_url", "result_url", "queue_position"}
    result = client.get(submitted["result_url"].removeprefix("http://testserver")).json()
    assert result["status"] == "in_queue" and result["output"] is None


def test_a_public_url_setting_is_used_in_answers(tmp_path: Path) -> None:
    env = make_env(tmp_path, public_url="https://layers.example.org/")
    with TestClient(create_app(env.settings, service=env.service)) as client:
        answer = client.post(
            SUBMIT,
            json={"image_url": data_uri(png())},
            headers={"Authorization": f"Bearer {env.secret}"},
        ).json()
    assert answer["status_url"].startswith("https://layers.example.org/v1/requests/")
    env.store.dispose()


def test_a_bug_becomes_500001_without_leaking_details() -> None:
    status, body, _ = answer_for(RuntimeError("secret internals at /srv/x"))
    assert status == 500 and body["error_code"] == 500001
    assert "secret" not in body["error_message"]


def test_status_on_a_postgresql_store_reads_in_the_thread_pool(tmp_path: Path) -> None:
    with temporary_database() as url:
        env = make_env(tmp_path, database_url=url)
        assert not env.store.local_reads
        auth = {"Authorization": f"Bearer {env.secret}"}
        with TestClient(create_app(env.settings, service=env.service)) as client:
            ids = [
                client.post(SUBMIT, json={"image_url": data_uri(png())}, headers=auth).json()[
                    "request_id"
                ]
                for _ in range(2)
            ]
            answers = [client.get(f"/v1/requests/{i}/status", headers=auth).json() for i in ids]
            missing = client.get(f"/v1/requests/{'0' * 32}/status", headers=auth)
        env.store.dispose()
    assert [a["queue_position"] for a in answers] == [0, 1]
    assert {a["status"] for a in answers} == {"in_queue"}
    assert (missing.status_code, missing.json()["error_code"]) == (404, 404001)


def test_storage_and_database_faults_are_503_with_retry_after(
    app_env: tuple[TestClient, Env], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, env = app_env
    root = env.service.storage.root  # type: ignore[attr-defined]
    root.rename(root.with_name("files.aside"))
    root.write_bytes(b"")  # the directory is gone: a file where it was
    for answer in (
        client.post(SUBMIT, json={"image_url": data_uri(png())}),
        client.post("/v1/files", files={"file": ("a.png", png(), "image/png")}),
    ):
        body = answer.json()
        assert (answer.status_code, body["error_code"]) == (503, 503002)
        assert answer.headers["retry-after"] == "5" and body["detail"] == {"dependency": "storage"}
    health = client.get("/healthz")
    assert health.status_code == 503 and health.headers["retry-after"] == "5"
    assert health.json()["storage"].startswith("unavailable: the file storage could not")
    assert health.json()["database"] == "ok"
    root.unlink()
    root.with_name("files.aside").rename(root)

    def dropped(*args: object, **kwargs: object) -> None:
        raise sa.exc.OperationalError("SELECT", {}, Exception("terminating connection"))

    monkeypatch.setattr(env.store, "status", dropped)
    answer = client.get(f"/v1/requests/{'0' * 32}/status")
    assert (answer.status_code, answer.json()["error_code"]) == (503, 503003)
    assert "terminating" not in answer.text and "connection" not in answer.headers


def test_an_upload_link_whose_file_is_gone_is_410(app_env: tuple[TestClient, Env]) -> None:
    client, env = app_env
    uploaded = client.post("/v1/files", files={"file": ("a.png", png(), "image/png")}).json()
    env.service.storage.delete(uploaded["key"])
    answer = client.post(SUBMIT, json={"image_url": uploaded["url"]})
    assert (answer.status_code, answer.json()["error_code"]) == (410, 410001)
    assert "no longer exists" in answer.json()["error_message"]


def test_a_bug_answer_says_the_connection_closes() -> None:
    status, _, headers = answer_for(RuntimeError("x"))
    assert (status, headers) == (500, {"Connection": "close"})


def test_unknown_keys_are_limited_per_address_without_a_key_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(tmp_path, auth_failures_per_minute=5)
    lookups: list[str] = []
    verify = env.keys.verify
    monkeypatch.setattr(env.keys, "verify", lambda secret: lookups.append(secret) or verify(secret))
    app = create_app(env.settings, service=env.service)
    wrong = {"Authorization": "Bearer lam_wrong"}
    with TestClient(app, client=("203.0.113.7", 1000)) as guesser:
        codes = [guesser.get("/v1/models", headers=wrong).status_code for _ in range(40)]
        refused = guesser.get("/v1/models", headers=wrong)
    assert codes == [401] * 5 + [429] * 35
    assert len(lookups) == 5  # the burst after the budget never reached the key store
    body = refused.json()
    assert (body["error_code"], refused.headers["retry-after"]) == (429002, "12")
    with TestClient(app, client=("198.51.100.2", 1000)) as other:
        assert other.get("/v1/models", headers=wrong).status_code == 401  # its own budget
        good = other.get("/v1/models", headers={"Authorization": f"Bearer {env.secret}"})
        assert good.status_code == 200
    env.clock.now += 12  # one failure's worth of budget back
    with TestClient(app, client=("203.0.113.7", 1000)) as guesser:
        assert guesser.get("/v1/models", headers=wrong).status_code == 401
        assert guesser.get("/v1/models", headers=wrong).status_code == 429
    env.store.dispose()


def test_whole_numbers_pass_as_integers_and_405_lists_every_method(
    app_env: tuple[TestClient, Env],
) -> None:
    client, _ = app_env
    image = data_uri(png())
    assert client.post(SUBMIT, json={"image_url": image, "num_layers": 4.0}).status_code == 200
    for bad in (4.5, "4", True):
        assert client.post(SUBMIT, json={"image_url": image, "num_layers": bad}).status_code == 422
    refused = client.request("DELETE", SUBMIT)
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET, POST")


def test_the_openapi_document_lists_the_error_answers(app_env: tuple[TestClient, Env]) -> None:
    client, _ = app_env
    document = client.get("/openapi.json").json()
    submit = document["paths"]["/v1/models/{model_id}"]["post"]
    assert {"400", "401", "410", "413", "422", "429", "503"} <= set(submit["responses"])
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    assert submit["responses"]["422"]["content"]["application/json"]["schema"] == error
    assert "HTTPValidationError" not in document["components"]["schemas"]
    health = document["paths"]["/healthz"]["get"]
    assert "security" not in health and "401" not in health["responses"]
    status = document["paths"]["/v1/requests/{request_id}/status"]["get"]
    assert status["parameters"][0]["schema"]["pattern"] == "^[0-9a-f]{32}$"
