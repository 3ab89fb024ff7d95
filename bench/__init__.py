"""Kunci's benchmarks: `make bench` (bench/run.py) prints the Markdown tables of BENCHMARKS.md."""
