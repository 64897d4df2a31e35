"""Real-content benchmark sets: layered SVG art, real PSDs and photo composites.

Each set module builds :class:`~bench.real.common.RealSample` objects whose
layers are the author's own (SVG elements, PSD top-level layers, pasted
cut-outs), so the scores say how an engine does on content that
``bench.synth`` did not draw. ``python -m bench.real`` runs the benchmark.
"""
