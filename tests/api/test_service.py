"""The service layer without HTTP: submit, status, result, cancel, uploads, auth, purge."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.support.inputs import data_uri, png
from tests.support.service import BASE, Env, make_env

from lamina.api.schemas import SubmitRequest
from lamina.api.server import ensure_first_key
from lamina.config import Settings
from lamina.errors import (
    BadInput,
    Forbidden,
    NotFound,
    RateLimited,
    SchemaViolation,
    TooLarge,
    Unauthorized,
)
from lamina.jobs.keys import KeyStore
from lamina.jobs.store import JobStore
from lamina.storage import ObjectNotFound

MODEL = "qwen/qwen-image-layered"


def _submit(env: Env, url: str | None = None, **params: object) -> str:
    body = SubmitRequest(image_url=url or data_uri(png()), **params)  # type: ignore[arg-type]
    return env.service.submit(env.caller, MODEL, body, base_url=BASE).request_id


def test_submit_answers_absolute_urls_and_records_the_parameters(env: Env) -> None:
    answer = env.service.submit(
        env.caller,
        MODEL,
        SubmitRequest(image_url="https://img.example.com/a.png", num_layers=3, seed=-5),
        base_url=BASE + "/",
    )
    rid = answer.request_id
    assert answer.status_url == f"{BASE}/v1/requests/{rid}/status"
    assert answer.result_url == f"{BASE}/v1/requests/{rid}/result"
    assert answer.cancel_url == f"{BASE}/v1/requests/{rid}/cancel"
    job = env.store.get(rid)
    assert job.input_url == "https://img.example.com/a.png" and job.input_key is None
    assert job.params["num_layers"] == 3 and job.params["seed"] == -5
    assert job.owner == env.caller.owner and job.model_id == MODEL


def test_data_uris_are_decoded_checked_and_stored(env: Env) -> None:
    job = env.store.get(_submit(env))
    assert job.input_key is not None and env.service.storage.get(job.input_key) == png()
    assert job.params["image_url"].startswith("data: (")  # the bytes are not kept in the row
    percent = "data:image/png," + "".join(f"%{b:02x}" for b in png())
    assert env.service.storage.get(env.store.get(_submit(env, percent)).input_key or "") == png()
    with pytest.raises(BadInput, match="not an image"):
        _submit(env, data_uri(b"hello", "text/plain"))
    with pytest.raises(BadInput, match="invalid base64"):
        _submit(env, "data:image/png;base64,!!!")
    with pytest.raises(BadInput, match="without a ','"):
        _submit(env, "data:image/png;base64")
    with pytest.raises(TooLarge):
        _submit(env, data_uri(png() + bytes(20_000)))


def test_urls_are_checked_at_submit(env: Env) -> None:
    for url, message in [
        ("http://intranet.example.com/a.png", "private"),
        ("http://127.0.0.1/a.png", "private"),
        ("http://nowhere.example.com/a.png", "could not be resolved"),
        ("ftp://img.example.com/a.png", "http or https"),
        ("http://[::1", "not a valid URL"),
    ]:
        with pytest.raises(BadInput, match=message):
            _submit(env, url)


def test_models_and_identifiers(env: Env) -> None:
    assert [m.id for m in env.service.models()] == [MODEL]
    assert env.service.models()[0].engine == "classic"
    with pytest.raises(NotFound):
        env.service.model("acme/other")
    with pytest.raises(BadInput):
        env.service.model("no-slash")
    with pytest.raises(NotFound):
        env.service.status(env.caller, "../etc", base_url=BASE)
    with pytest.raises(NotFound):
        env.service.status(env.caller, "f" * 32, base_url=BASE)


def test_params_out_of_the_engine_range_are_a_schema_violation(env: Env) -> None:
    body = SubmitRequest.model_construct(image_url=data_uri(png()), num_layers=0)
    with pytest.raises(SchemaViolation, match="num_layers"):
        env.service.submit(env.caller, MODEL, body, base_url=BASE)


def test_status_positions_progress_and_result_states(env: Env) -> None:
    ids = [_submit(env) for _ in range(3)]
    assert [env.service.status(env.caller, i, base_url=BASE).queue_position for i in ids] == [
        0,
        1,
        2,
    ]
    job = env.store.claim("w1", lease_s=30)
    assert job is not None and job.id == ids[0]
    env.store.heartbeat(job.id, "w1", lease_s=30, progress=0.25)
    running = env.service.status(env.caller, ids[0], base_url=BASE)
    assert (running.status, running.progress, running.queue_position) == ("in_progress", 0.25, None)
    assert env.service.status(env.caller, ids[2], base_url=BASE).queue_position == 1
    pending = env.service.result(env.caller, ids[0], base_url=BASE)
    assert pending.status == "in_progress" and pending.output is None and pending.error is None

    env.store.fail(job.id, "w1", "the engine could not read this image")
    failed = env.service.result(env.caller, ids[0], base_url=BASE)
    assert failed.status == "failed" and failed.error == "the engine could not read this image"
    assert failed.finished_at is not None and failed.finished_at.endswith("Z")


def test_a_completed_result_signs_every_stored_key(env: Env) -> None:
    rid = _submit(env, output_format="webp", num_layers=2)
    job = env.store.claim("w1", lease_s=30)
    assert job is not None
    storage = env.service.storage
    for name in ("layer_00.webp", "layer_01.webp", "layers.zip", "layers.json"):
        storage.put(f"jobs/{rid}/{name}", name.encode(), "application/octet-stream")
    metadata = {
        "width": 8,
        "height": 8,
        "layers": [
            {"index": 0, "name": "background", "kind": "background", "bbox": [0, 0, 8, 8]},
            {"index": 1, "name": "text 1", "kind": "text", "bbox": [1, 1, 4, 3], "empty": False},
        ],
        "notes": ["classic engine ignores prompt"],
    }
    result = {
        "layers": [f"jobs/{rid}/layer_00.webp", f"jobs/{rid}/layer_01.webp"],
        "exports": {"zip": f"jobs/{rid}/layers.zip"},
        "manifest": f"jobs/{rid}/layers.json",
        "metadata": metadata,
        "engine": "classic",
        "seed": 0,
        "timings": {"total": 0.5},
    }
    assert env.store.complete(rid, "w1", result)
    answer = env.service.result(env.caller, rid, base_url=BASE)
    assert answer.status == "completed" and answer.engine == "classic"
    assert answer.timings == {"total": 0.5} and answer.seed == 0
    assert answer.notes == ["classic engine ignores prompt"]
    assert answer.output is not None and answer.output.width == 8
    assert set(answer.output.exports or {}) == {"zip", "json"}
    assert [layer.kind for layer in answer.output.layers or []] == ["background", "text"]
    for url, name in zip(answer.output.images, ("layer_00.webp", "layer_01.webp"), strict=True):
        parts = urlsplit(url)
        assert url.startswith(f"{BASE}/v1/files/jobs/{rid}/{name}?")
        query = dict(p.split("=") for p in parts.query.split("&"))
        key = parts.path.removeprefix("/v1/files/")
        data, media = env.service.open_file(key, expires=query["expires"], sig=query["sig"])
        assert (data, media) == (name.encode(), "image/webp")
        with pytest.raises(Forbidden):
            env.service.open_file(key, expires=query["expires"], sig="0" * 64)
        with pytest.raises(Forbidden):
            env.service.open_file(key, expires=str(int(query["expires"]) + 1), sig=query["sig"])
    with pytest.raises(NotFound):
        env.service.open_file("../data/lamina.db", expires="9999999999", sig="x")


def test_cancel_queued_and_running_requests(env: Env) -> None:
    first, second = _submit(env), _submit(env)
    env.store.claim("w1", lease_s=30)
    assert env.service.cancel(env.caller, second).outcome == "cancelled"
    again = env.service.cancel(env.caller, second)
    assert (again.status, again.outcome) == ("cancelled", "cancelled")
    running = env.service.cancel(env.caller, first)
    assert (running.status, running.outcome) == ("in_progress", "cancel_requested")


def test_cancel_running_off_keeps_the_seed_rule(tmp_path: Path) -> None:
    env = make_env(tmp_path, cancel_running=False)
    try:
        first = _submit(env)
        env.store.claim("w1", lease_s=30)
        running = env.service.cancel(env.caller, first)
        assert (running.status, running.outcome) == ("in_progress", "not_cancellable")
        assert not env.store.get(first).cancel_requested
    finally:
        env.store.dispose()


def test_requests_are_invisible_to_other_keys(env: Env) -> None:
    rid = _submit(env)
    _, other = env.new_caller("other")
    with pytest.raises(NotFound):
        env.service.status(other, rid, base_url=BASE)
    with pytest.raises(NotFound):
        env.service.result(other, rid, base_url=BASE)
    with pytest.raises(NotFound):
        env.service.cancel(other, rid)
    assert env.store.get(rid).state == "in_queue"


def test_authentication_cache_revocation_and_rate_limit(env: Env) -> None:
    for header in (None, "", "Bearer", "Token abc", "Bearer lam_unknown"):
        with pytest.raises(Unauthorized):
            env.service.authenticate(header)
    secret, caller = env.new_caller("limited")  # used 1 of 5
    for _ in range(4):
        assert env.service.authenticate(f"bearer  {secret} ") == caller
    with pytest.raises(RateLimited) as limited:
        env.service.authenticate(f"Bearer {secret}")
    assert limited.value.retry_after_s == 12  # 5 per minute: one token every 12 s
    env.clock.now += 12
    env.service.authenticate(f"Bearer {secret}")

    env.keys.revoke(caller.owner)
    env.clock.now += 60  # past the auth cache and the rate limit
    with pytest.raises(Unauthorized, match="revoked"):
        env.service.authenticate(f"Bearer {secret}")


def test_uploads_give_urls_that_work_as_image_url(env: Env) -> None:
    uploaded = env.service.upload(env.caller, png(), base_url=BASE)
    assert uploaded.content_type == "image/png" and uploaded.size == len(png())
    rid = _submit(env, uploaded.url)
    job = env.store.get(rid)
    assert job.input_key is not None and job.input_key != uploaded.key  # a copy per job
    assert env.service.storage.get(job.input_key) == png()
    with pytest.raises(BadInput, match="invalid or has expired"):
        _submit(env, uploaded.url.replace("sig=", "sig=1"))
    with pytest.raises(BadInput, match="not an image"):
        env.service.upload(env.caller, b"GIF? no", base_url=BASE)
    with pytest.raises(TooLarge):
        env.service.upload(env.caller, png() + bytes(20_000), base_url=BASE)


def test_purge_deletes_expired_jobs_their_files_and_old_uploads(env: Env) -> None:
    rid = _submit(env)
    job = env.store.claim("w1", lease_s=30)
    assert job is not None and job.input_key is not None
    env.service.storage.put(f"jobs/{rid}/layer_00.png", png(), "image/png")
    env.store.complete(rid, "w1", {"layers": [f"jobs/{rid}/layer_00.png"]})
    kept = _submit(env)
    upload = env.service.upload(env.caller, png(), base_url=BASE)

    assert env.service.purge(now=datetime.now(UTC)) == 0
    later = datetime.now(UTC) + timedelta(days=env.settings.retention_days + 2)
    assert env.service.purge(now=later) == 1
    with pytest.raises(NotFound):
        env.service.status(env.caller, rid, base_url=BASE)
    for key in (f"jobs/{rid}/layer_00.png", job.input_key, upload.key):
        with pytest.raises(ObjectNotFound):
            env.service.storage.get(key)
    assert env.service.status(env.caller, kept, base_url=BASE).status == "in_queue"


def test_the_first_start_creates_and_prints_one_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = JobStore(settings.resolved_database_url)
    store.migrate()
    keys = KeyStore(store)
    out = io.StringIO()
    secret = ensure_first_key(keys, out)
    assert secret is not None and secret in out.getvalue()
    assert keys.verify(secret) is not None
    assert ensure_first_key(keys, out) is None and keys.count_active() == 1
    store.dispose()
