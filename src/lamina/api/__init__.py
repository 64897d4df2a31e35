"""The HTTP API: ``create_app(settings)`` in :mod:`lamina.api.app`, ``serve`` in
:mod:`lamina.api.server`, the wire schemas in :mod:`lamina.api.schemas`.

Nothing is imported here, so the client can use the schemas without FastAPI.
"""
