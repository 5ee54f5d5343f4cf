"""Benchmarks behind `baomi bench NAME`.

Each module `baomi.bench.<name>` exposes `main(argv: list[str]) -> int`, prints a
human-readable table by default and JSON with `--json`. Ratios are always measured
against a reference run in the same process, because the machines are shared and noisy.
"""
