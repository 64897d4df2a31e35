"""A job's execution: input bytes -> layers -> stored files, with the engine's progress
mapped onto the job's."""

from __future__ import annotations

import dataclasses
import json
import time
from functools import partial

from lamina.budget import check_job_memory
from lamina.engines.base import ProgressCallback
from lamina.errors import LaminaError, ObjectNotFound
from lamina.jobs.store import Job, JobResult, output_prefix
from lamina.jobs.worker.base import WorkerBase
from lamina.types import DecomposeParams

_PARAM_NAMES = frozenset(f.name for f in dataclasses.fields(DecomposeParams))


ENGINE_FROM = 0.1
"""The job's progress when the engine starts: fetching and decoding come before it."""
ENCODE_AT = 0.9
"""The job's progress when encoding and storing the layers and exports begins."""


class ExecutionMixin(WorkerBase):
    """Runs one claimed job's work; knows nothing of leases, stop requests or outcomes."""

    def execute(self, job: Job, progress: ProgressCallback) -> JobResult:
        """Input bytes -> layers -> stored files; returns the job's ``result``.

        ``progress`` hears the whole job's progress and stages: ``decode`` (fetch and
        decode), the engine's own stages (``decompose`` for an engine that names none),
        then ``encode`` (encode and store the layers and exports).
        """
        from lamina.imaging.exports import EXPORT_KINDS
        from lamina.pipeline import build_outputs, decompose_image

        if self.engine is None:
            raise RuntimeError("Worker.setup() was not called")
        progress(0.0, "decode")
        start = time.perf_counter()
        if job.input_key is not None:
            try:
                data = self.storage.get(job.input_key)
            except ObjectNotFound:
                raise LaminaError(
                    "the uploaded input image is no longer stored (deleted after the "
                    "retention period); upload it again"
                ) from None
        elif job.input_url is not None:
            from lamina.fetch import fetch_image

            data = fetch_image(job.input_url, self.settings)
        else:
            raise LaminaError("the job has no input image")
        fetched = time.perf_counter()
        params = DecomposeParams(**{k: v for k, v in job.params.items() if k in _PARAM_NAMES})
        stack = decompose_image(
            data,
            params,
            engine=self.engine,
            max_pixels=self.settings.max_pixels,
            admit=partial(
                check_job_memory,
                num_layers=params.num_layers,
                engine=self.engine,
                limit=self.settings.max_job_memory,
                psd_max_pixel_layers=self.psd_max_pixel_layers,
            ),
            progress=_engine_share(progress),
        )
        progress(ENCODE_AT, "encode")
        decomposed = time.perf_counter()
        prefix = output_prefix(job.id)
        outputs = build_outputs(
            stack, EXPORT_KINDS, best_effort=True, psd_max_pixel_layers=self.psd_max_pixel_layers
        )
        for file in [*outputs.layers, *outputs.exports.values()]:
            self.storage.put(prefix + file.name, file.data, file.media_type)
        timings = {**stack.timings, "fetch": fetched - start}
        timings["store"] = time.perf_counter() - decomposed
        manifest = outputs.manifest(stack, **timings)
        self.storage.put(prefix + manifest.name, manifest.data, manifest.media_type)
        return JobResult(
            layers=[prefix + file.name for file in outputs.layers],
            exports={kind: prefix + file.name for kind, file in outputs.exports.items()},
            manifest=prefix + manifest.name,
            metadata=json.loads(manifest.data),
            engine=stack.engine,
            seed=params.seed,
            timings=timings,
        )


def _engine_share(progress: ProgressCallback) -> ProgressCallback:
    """The engine's 0..1 as the job's :data:`ENGINE_FROM` .. :data:`ENCODE_AT`, each call
    naming the engine's current stage (``decompose`` until the engine names one)."""
    current = ["decompose"]

    def report(fraction: float, stage: str | None = None, /) -> None:
        if stage is not None:
            current[0] = stage
        progress(ENGINE_FROM + (ENCODE_AT - ENGINE_FROM) * fraction, current[0])

    return report
