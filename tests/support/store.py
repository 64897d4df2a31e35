"""Job store helpers: a clock the test moves and a queued job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lamina.jobs.store import Job, JobStore

PARAMS = {"num_layers": 2, "seed": 1, "image_url": "https://example.com/a.png"}


class ManualClock:
    """A clock the test moves forward: leases expire without the test waiting for them."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def submit(store: JobStore, owner: str = "key_a") -> Job:
    """A queued job of ``owner`` with :data:`PARAMS`."""
    return store.submit(
        owner=owner,
        model_id="qwen/qwen-image-layered",
        params=PARAMS,
        input_url="https://example.com/a.png",
    )
