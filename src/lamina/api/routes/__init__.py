"""One small module of routes per resource; :mod:`lamina.api.app` includes their routers."""
