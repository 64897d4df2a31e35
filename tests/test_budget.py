"""The per-job memory estimate against measured peaks, and the refusal it gives."""

from __future__ import annotations

import pytest

from lamina.budget import check_job_memory, estimate_job_memory
from lamina.errors import ImageTooLarge
from lamina.jobs.worker import PSD_MAX_PIXEL_LAYERS

MIB = 2**20


@pytest.mark.parametrize(
    ("width", "height", "layers", "measured_mib"),
    [  # classic engine, whole worker job (bench.job_memory, docs/benchmarks.md)
        (2000, 1500, 4, 555),
        (4000, 3000, 4, 1654),
        (4000, 3000, 10, 1759),
        (6300, 6300, 4, 1038),
        (6300, 6300, 10, 1390),
    ],
)
def test_the_default_estimate_covers_measured_peaks_without_tripling_them(
    width: int, height: int, layers: int, measured_mib: int
) -> None:
    estimate = estimate_job_memory(
        width, height, layers, object(), psd_max_pixel_layers=PSD_MAX_PIXEL_LAYERS
    )
    assert measured_mib * MIB < estimate < 3 * measured_mib * MIB


def test_the_default_budget_admits_the_largest_default_input() -> None:
    for layers in range(1, 11):  # 40 MP, the default max_pixels, fits in 6 GiB
        check_job_memory(
            6324,
            6324,
            num_layers=layers,
            engine=object(),
            limit=6 * 2**30,
            psd_max_pixel_layers=PSD_MAX_PIXEL_LAYERS,
        )


def test_an_engine_estimate_wins_and_the_refusal_is_readable() -> None:
    class Thrifty:
        def memory_estimate(self, width: int, height: int, num_layers: int) -> int:
            return width * height * num_layers

    kw = {"num_layers": 10, "psd_max_pixel_layers": PSD_MAX_PIXEL_LAYERS}
    check_job_memory(10_000, 10_000, engine=Thrifty(), limit=2**30, **kw)  # type: ignore[arg-type]
    with pytest.raises(ImageTooLarge) as refused:
        check_job_memory(10_000, 10_000, engine=object(), limit=2**30, **kw)  # type: ignore[arg-type]
    assert str(refused.value) == (
        "decomposing this 10000x10000 image into 10 layers would need about 7.3 GiB, over "
        "this server's limit of 1.0 GiB per job (max_job_memory); try a smaller image or "
        "fewer layers"
    )
