"""Retention: delete finished jobs older than ``retention_days`` together with their files."""

from __future__ import annotations

import logging
from datetime import datetime

from lamina.jobs.store import JobStore, output_prefix
from lamina.storage import Storage

log = logging.getLogger(__name__)


def purge_expired(store: JobStore, storage: Storage, *, before: datetime) -> int:
    """Delete jobs that finished before ``before``, then their input and output files.

    Rows go first (one ``DELETE ... RETURNING``), so two purgers never share a job and a
    crash in between leaves orphan files, never a job whose files are gone.
    """
    purged = store.purge_before(before)
    for job in purged:
        try:
            storage.delete_prefix(output_prefix(job.id))
            if job.input_key is not None:
                storage.delete(job.input_key)
        except Exception:
            log.exception("could not delete the files of purged job %s", job.id)
    return len(purged)
