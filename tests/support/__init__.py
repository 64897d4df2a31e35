"""What tests share, in one place: fixture engines, throw-away databases, real ``lamina
serve`` and ``lamina worker`` processes, inputs, and the in-process service.

- :mod:`~tests.support.engines`: the fixture engines (fast, gate, bands, broken, wrapping)
- :mod:`~tests.support.pg`: throw-away PostgreSQL databases
- :mod:`~tests.support.waiting`: polling a condition with a deadline
- :mod:`~tests.support.workers`: ``lamina worker`` processes on the fast engine
- :mod:`~tests.support.server`: a ``lamina serve`` process driven over HTTP
- :mod:`~tests.support.cluster`: ``lamina serve --workers 0`` plus worker processes (chaos)
- :mod:`~tests.support.inputs`: test images and a loopback HTTP host for them
- :mod:`~tests.support.service`: the API service in process over a real store and storage
- :mod:`~tests.support.store`: job store helpers (a manual clock, a queued job)

Test modules and ``conftest.py`` files import from here, never from each other; the
fixtures themselves stay in the ``conftest.py`` of the folder that uses them.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The checkout's root (its ``src`` comes first on subprocesses' ``PYTHONPATH``)."""
