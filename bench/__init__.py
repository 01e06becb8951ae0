"""Benchmarks: each reports its time against a floor measured in the same run."""
