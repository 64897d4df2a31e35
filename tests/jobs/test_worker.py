"""The worker loop in-process: outputs, readable failures, leases, graceful stop, URL inputs."""

from __future__ import annotations

import http.server
import io
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from tests.support.engines import FastEngine
from tests.support.waiting import wait_until

from lamina.config import Settings
from lamina.errors import StorageUnavailable
from lamina.imaging.codec import decode_image, encode_image
from lamina.jobs.models import jobs
from lamina.jobs.retention import purge_expired
from lamina.jobs.states import JobState
from lamina.jobs.store import JobStore, output_prefix
from lamina.jobs.worker import Worker
from lamina.storage import LocalStorage, ObjectNotFound

RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 256, size=(24, 32, 4), dtype=np.uint8)
IMAGE[..., 3] = 255
PNG = encode_image(IMAGE)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, lease_s=30.0, allow_private_urls=True)


@pytest.fixture
def local_store(settings: Settings) -> Iterator[JobStore]:
    store = JobStore(settings.resolved_database_url)
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    return LocalStorage(Path(settings.resolved_storage), b"k" * 32)


def make_worker(store: JobStore, storage: LocalStorage, settings: Settings, **kw: float) -> Worker:
    return Worker(store, storage, FastEngine, settings, poll_s=0.02, **kw)  # type: ignore[arg-type]


def submit(store: JobStore, storage: LocalStorage, data: bytes = PNG, **params: object) -> str:
    key = f"inputs/{time.monotonic_ns()}"
    storage.put(key, data, "image/png")
    job = store.submit(owner="k", model_id="m", params={"num_layers": 3, **params}, input_key=key)
    return job.id


def run_in_thread(worker: Worker, stop: threading.Event, **kw: int) -> threading.Thread:
    thread = threading.Thread(target=worker.run, args=(stop,), kwargs=kw, daemon=True)
    thread.start()
    return thread


def test_a_job_produces_layers_exports_and_metadata(
    local_store: JobStore, storage: LocalStorage, settings: Settings
) -> None:
    job_id = submit(local_store, storage, seed=5)
    assert make_worker(local_store, storage, settings).run(threading.Event(), max_jobs=1) == 1
    job = local_store.get(job_id)
    assert job.state is JobState.COMPLETED, job.error
    result = job.result
    assert result is not None
    assert result["layers"] == [f"{output_prefix(job_id)}layer_0{i}.png" for i in range(3)]
    assert np.array_equal(decode_image(storage.get(result["layers"][0])).rgba, IMAGE)
    assert decode_image(storage.get(result["layers"][2])).rgba[..., 3].max() == 0
    assert set(result["exports"]) == {"zip", "psd", "pptx"}
    with zipfile.ZipFile(io.BytesIO(storage.get(result["exports"]["zip"]))) as zf:
        assert "layers.json" in zf.namelist()
    assert storage.get(result["exports"]["psd"])[:4] == b"8BPS"
    assert storage.get(result["exports"]["pptx"])[:2] == b"PK"
    assert result["engine"] == "fast" and result["seed"] == 5
    assert [layer["file"] for layer in result["metadata"]["layers"]] == [
        "layer_00.png",
        "layer_01.png",
        "layer_02.png",
    ]
    assert {"decode", "engine", "fetch", "store"} <= set(result["timings"])
    assert storage.get(result["manifest"]).startswith(b"{")
    assert job.attempts == 1 and job.progress == 1.0


def test_failures_are_readable_and_the_worker_goes_on(
    local_store: JobStore, storage: LocalStorage, settings: Settings
) -> None:
    failing = submit(local_store, storage, prompt="fail")
    oom = submit(local_store, storage, prompt="oom")
    corrupt = submit(local_store, storage, data=b"\x89PNG\r\n\x1a\n garbage")
    missing = local_store.submit(owner="k", model_id="m", params={}, input_key="inputs/gone").id
    good = submit(local_store, storage)
    worker = make_worker(local_store, storage, settings)
    assert worker.run(threading.Event(), max_jobs=5) == 5
    errors = {job_id: local_store.get(job_id).error for job_id in (failing, oom, corrupt, missing)}
    assert "asked to fail" in str(errors[failing])
    assert str(errors[oom]).startswith("out of memory while processing this image")
    assert "image" in str(errors[corrupt]) and "internal error" not in str(errors[corrupt])
    assert "no longer stored" in str(errors[missing]) and "inputs/" not in str(errors[missing])
    for job_id in errors:
        assert local_store.get(job_id).state is JobState.FAILED
    assert local_store.get(good).state is JobState.COMPLETED


def test_heartbeats_keep_a_long_job_alive(
    local_store: JobStore, storage: LocalStorage, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, lease_s=0.6)
    job_id = submit(local_store, storage, prompt="sleep:1.5")
    worker = make_worker(local_store, storage, settings, heartbeat_s=0.1)
    stop = threading.Event()
    thread = run_in_thread(worker, stop, max_jobs=1)
    reaped = 0
    while thread.is_alive():
        reaped += local_store.reap_expired(max_attempts=1)
        time.sleep(0.05)
    job = local_store.get(job_id)
    assert reaped == 0
    assert job.state is JobState.COMPLETED and job.attempts == 1


def test_progress_is_recorded_while_running(
    local_store: JobStore, storage: LocalStorage, settings: Settings
) -> None:
    job_id = submit(local_store, storage, prompt="sleep:1.2")
    worker = make_worker(local_store, storage, settings, progress_every_s=0.1)
    thread = run_in_thread(worker, threading.Event(), max_jobs=1)
    wait_until(lambda: 0.0 < local_store.get(job_id).progress < 1.0, 20, "progress")
    thread.join(20)
    assert local_store.get(job_id).progress == 1.0


def test_stop_releases_a_job_that_does_not_finish_in_the_grace_period(
    local_store: JobStore, storage: LocalStorage, settings: Settings
) -> None:
    job_id = submit(local_store, storage, prompt="sleep:30")
    worker = make_worker(local_store, storage, settings, grace_s=0.2)
    stop = threading.Event()
    thread = run_in_thread(worker, stop)
    wait_until(lambda: local_store.get(job_id).state is JobState.IN_PROGRESS, 20, "the job to run")
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    job = local_store.get(job_id)
    assert job.state is JobState.IN_QUEUE and job.attempts == 0 and job.worker_id is None
    assert local_store.stats()["workers_alive"] == 0


def test_stop_lets_a_short_job_finish(
    local_store: JobStore, storage: LocalStorage, settings: Settings
) -> None:
    job_id = submit(local_store, storage, prompt="sleep:0.5")
    worker = make_worker(local_store, storage, settings, grace_s=20)
    stop = threading.Event()
    thread = run_in_thread(worker, stop)
    wait_until(lambda: local_store.get(job_id).state is JobState.IN_PROGRESS, 20, "the job to run")
    stop.set()
    thread.join(20)
    assert local_store.get(job_id).state is JobState.COMPLETED


def test_a_worker_that_lost_its_lease_records_nothing(
    local_store: JobStore, storage: LocalStorage, settings: Settings
) -> None:
    job_id = submit(local_store, storage, prompt="sleep:1")
    worker = make_worker(local_store, storage, settings, progress_every_s=0.05)
    thread = run_in_thread(worker, threading.Event(), max_jobs=1)
    wait_until(lambda: local_store.get(job_id).state is JobState.IN_PROGRESS, 20, "the job to run")
    with local_store.engine.begin() as conn:  # as if reaped and claimed by another worker
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(worker_id="other"))
    thread.join(20)
    job = local_store.get(job_id)
    assert job.state is JobState.IN_PROGRESS and job.worker_id == "other"
    assert local_store.complete(job_id, "other", {"by": "other"})


def test_url_inputs_are_fetched(
    local_store: JobStore, storage: LocalStorage, settings: Settings
) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/in.png"
        job = local_store.submit(owner="k", model_id="m", params={"image_url": url}, input_url=url)
        make_worker(local_store, storage, settings).run(threading.Event(), max_jobs=1)
    finally:
        server.shutdown()
        server.server_close()
    done = local_store.get(job.id)
    assert done.state is JobState.COMPLETED, done.error
    assert np.array_equal(decode_image(storage.get(done.result["layers"][0])).rgba, IMAGE)


def test_purge_expired_deletes_rows_then_files(
    local_store: JobStore, storage: LocalStorage, settings: Settings
) -> None:
    job_id = submit(local_store, storage)
    make_worker(local_store, storage, settings).run(threading.Event(), max_jobs=1)
    job = local_store.get(job_id)
    assert job.result is not None and job.input_key is not None
    assert purge_expired(local_store, storage, before=datetime.now(UTC) - timedelta(1)) == 0
    assert purge_expired(local_store, storage, before=datetime.now(UTC) + timedelta(1)) == 1
    with pytest.raises(ObjectNotFound):
        storage.get(job.result["layers"][0])
    with pytest.raises(ObjectNotFound):
        storage.get(job.input_key)


def test_each_layer_is_encoded_once(
    local_store: JobStore,
    storage: LocalStorage,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lamina.imaging.codec as codec
    import lamina.imaging.exports as exports

    calls: list[str] = []
    real = codec.encode_image

    def counting(rgba: np.ndarray, fmt: str = "png") -> bytes:  # type: ignore[type-arg]
        calls.append(f"{fmt} {rgba.shape[1]}x{rgba.shape[0]}")
        return real(rgba, fmt)

    monkeypatch.setattr(codec, "encode_image", counting)
    monkeypatch.setattr(exports, "encode_image", counting)
    job_id = submit(local_store, storage)
    make_worker(local_store, storage, settings).run(threading.Event(), max_jobs=1)
    job = local_store.get(job_id)
    assert job.state is JobState.COMPLETED and job.result is not None
    meta = job.result["metadata"]
    full = [0, 0, meta["width"], meta["height"]]
    crops = []  # the PPTX's cropped pictures; a canvas-sized one reuses the layer file
    for entry in meta["layers"]:
        x0, y0, x1, y1 = entry["bbox"] or [0, 0, 1, 1]
        if entry["bbox"] != full:
            crops.append(f"png {x1 - x0}x{y1 - y0}")
    # the layer files once each; the ZIP reuses their bytes
    assert calls == [f"png {meta['width']}x{meta['height']}"] * 3 + crops
    with zipfile.ZipFile(io.BytesIO(storage.get(job.result["exports"]["zip"]))) as zf:
        for i, key in enumerate(job.result["layers"]):
            assert zf.read(f"layer_0{i}.png") == storage.get(key)


def test_an_image_too_wide_for_psd_completes_without_it(
    local_store: JobStore, storage: LocalStorage, settings: Settings
) -> None:
    wide = np.full((1, 30_001, 4), 255, dtype=np.uint8)
    job_id = submit(local_store, storage, data=encode_image(wide), num_layers=2)
    make_worker(local_store, storage, settings).run(threading.Event(), max_jobs=1)
    job = local_store.get(job_id)
    assert job.state is JobState.COMPLETED, job.error
    assert job.result is not None and set(job.result["exports"]) == {"zip", "pptx"}
    notes = job.result["metadata"]["notes"]
    assert len(notes) == 1 and "no PSD export" in notes[0] and "30000 px per side" in notes[0]
    manifest = storage.get(job.result["manifest"]).decode()
    assert '"psd"' not in manifest and "no PSD export" in manifest
    assert len(job.result["layers"]) == 2


def test_a_psd_over_the_memory_budget_is_skipped(
    local_store: JobStore, storage: LocalStorage, settings: Settings
) -> None:
    job_id = submit(local_store, storage)  # 32x24 px x 3 layers = 2,304 pixel-layers
    worker = Worker(
        local_store,
        storage,
        FastEngine,  # type: ignore[arg-type]
        settings,
        poll_s=0.02,
        psd_max_pixel_layers=2_303,
    )
    worker.run(threading.Event(), max_jobs=1)
    job = local_store.get(job_id)
    assert job.state is JobState.COMPLETED and job.result is not None
    assert "psd" not in job.result["exports"]
    assert "budget of 2,303 pixel-layers" in job.result["metadata"]["notes"][0]
    assert storage.get(job.result["exports"]["pptx"])[:2] == b"PK"


class _Flaky(LocalStorage):
    """Local storage whose writes fail with the storage's own fault while ``down`` is set
    (as a read-only or full disk would), counting the refusals."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, b"k" * 32)
        self.down = threading.Event()
        self.refused = 0

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if self.down.is_set() and key.startswith("jobs/"):
            self.refused += 1
            raise StorageUnavailable(f"the file storage could not store {key!r}: Read-only")
        super().put(key, data, content_type)


def test_a_storage_fault_requeues_the_job_with_back_off_until_it_passes(
    local_store: JobStore, settings: Settings
) -> None:
    storage = _Flaky(Path(settings.resolved_storage))
    job_id = submit(local_store, storage)
    storage.down.set()
    worker = make_worker(local_store, storage, settings, retry_backoff_s=0.3)
    stop = threading.Event()
    thread = run_in_thread(worker, stop)
    try:
        wait_until(lambda: storage.refused == 1, 20, "the storage to refuse")
        # held through its back-off (not failed, not yet back in the queue), then requeued
        assert local_store.get(job_id).state is JobState.IN_PROGRESS
        wait_until(lambda: local_store.get(job_id).attempts == 2, 20, "the second attempt")
        storage.down.clear()
        wait_until(
            lambda: local_store.get(job_id).state is JobState.COMPLETED, 20, "the job to complete"
        )
    finally:
        stop.set()
        worker.wake()
        thread.join(10)
    job = local_store.get(job_id)
    assert job.error is None and job.attempts in (2, 3) and storage.refused == job.attempts - 1


def test_a_fault_that_lasts_fails_the_job_after_the_last_attempt(
    local_store: JobStore, settings: Settings
) -> None:
    storage = _Flaky(Path(settings.resolved_storage))
    job_id = submit(local_store, storage)
    storage.down.set()
    worker = make_worker(local_store, storage, settings, retry_backoff_s=0.05)
    started = time.monotonic()
    assert worker.run(threading.Event(), max_jobs=settings.max_attempts) == settings.max_attempts
    job = local_store.get(job_id)
    assert job.state is JobState.FAILED and job.attempts == settings.max_attempts == 3
    assert job.error is not None and "could not store" in job.error
    assert "tried 3 time(s); giving up" in job.error
    assert time.monotonic() - started >= 0.05 + 0.1  # the back-off doubled: 0.05 s, 0.1 s


def test_a_job_past_its_time_limit_fails_and_the_worker_goes_on(
    local_store: JobStore, storage: LocalStorage, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, job_timeout_s=0.5)
    slow = submit(local_store, storage, prompt="sleep:30")
    good = submit(local_store, storage)
    worker = make_worker(local_store, storage, settings)
    started = time.monotonic()
    assert worker.run(threading.Event(), max_jobs=2) == 2
    assert time.monotonic() - started < 5
    job = local_store.get(slow)
    assert job.state is JobState.FAILED and not worker.spent  # stopped at a progress report
    assert job.error == (
        "the job ran past the time limit of 0.5 s (job_timeout_s) and was stopped; "
        "try a smaller image or fewer layers"
    )
    assert local_store.get(good).state is JobState.COMPLETED


def test_an_engine_that_does_not_stop_leaves_its_worker_spent(
    local_store: JobStore, storage: LocalStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lamina.jobs.worker.supervision.STOP_AFTER_TIMEOUT_S", 0.2)
    settings = Settings(data_dir=tmp_path, job_timeout_s=0.3)
    stuck = submit(local_store, storage, prompt="hang:3")
    waiting = submit(local_store, storage)
    worker = make_worker(local_store, storage, settings)
    assert worker.run(threading.Event()) == 1  # returns instead of taking the next job
    assert worker.spent
    assert "time limit of 0.3 s" in str(local_store.get(stuck).error)
    assert local_store.get(waiting).state is JobState.IN_QUEUE


def test_an_input_over_the_memory_budget_fails_before_the_engine_runs(
    local_store: JobStore, storage: LocalStorage, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, max_job_memory="300MiB")  # type: ignore[arg-type]
    large = encode_image(np.full((2000, 2000, 4), 255, dtype=np.uint8))
    refused = submit(local_store, storage, data=large, num_layers=10)
    admitted = submit(local_store, storage)
    worker = make_worker(local_store, storage, settings)
    assert worker.run(threading.Event(), max_jobs=2) == 2
    job = local_store.get(refused)
    assert job.state is JobState.FAILED and job.attempts == 1
    assert "over this server's limit of 0.3 GiB per job (max_job_memory)" in str(job.error)
    assert not storage.root.joinpath(output_prefix(refused)).exists()
    assert local_store.get(admitted).state is JobState.COMPLETED
