"""Baselines the benchmarks run side by side with autodeploy, and their shared helpers."""
