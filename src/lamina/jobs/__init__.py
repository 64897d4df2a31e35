"""The durable job queue: states, the SQL store, API keys, the worker loop and its runner.

Bookkeeping (:mod:`~lamina.jobs.store`) is kept apart from execution
(:mod:`~lamina.jobs.worker`), as in cog.
"""

from lamina.jobs.keys import ApiKey, KeyStore
from lamina.jobs.states import JobState
from lamina.jobs.store import Job, JobStore

__all__ = ["ApiKey", "Job", "JobState", "JobStore", "KeyStore"]
