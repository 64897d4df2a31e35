"""Benchmarks: the synthetic-design generator, the LayerD metric, baselines and their runners."""
