"""Benchmark: the old designs and this project through the same local cluster model."""
