"""Markdown tables, medians and ratios, and the machine line every benchmark run prints first."""
from __future__ import annotations

import gc
import os
import platform
import ssl
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field


@dataclass
class Table:
    """One Markdown table: a title, a header row and rows of already formatted cells."""

    title: str
    header: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def render(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |"]
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        lines += ["", *self.notes] if self.notes else []
        return "\n".join(lines) + "\n"


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Return the per-run ratios of two series measured side by side, run by run."""
    return [a / b for a, b in zip(numerators, denominators)]


def spread(values: Sequence[float]) -> str:
    """Return 'min-max' of a series, so a reader sees how noisy the runs were."""
    return f"{min(values):.2f}-{max(values):.2f}"


def verdict(value: float, limit: float, *, at_most: bool = True) -> str:
    met = value <= limit if at_most else value >= limit
    return ("met" if met else "**missed**") + f" ({'≤' if at_most else '≥'} {limit:g})"


def time_batch(call: Callable[[], object], n: int) -> float:
    """Return the mean µs of `n` calls of `call`, with the collector paused as timeit does."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(n):
            call()
        elapsed = time.perf_counter_ns() - start
    finally:
        if enabled:
            gc.enable()
    return elapsed / n / 1000


def interleaved(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every variant once per round, in a rotating order; return each variant's per-round results.

    Rotating the order keeps a slow spell of the (shared, noisy) machine from landing on one variant.
    """
    names = list(variants)
    results: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            results[name].append(variants[name]())
    return results


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    """Return cores, CPU model, Python, OpenSSL (ssl's and cryptography's backend) in one line."""
    from cryptography.hazmat.backends.openssl.backend import backend

    return (
        f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
        f"ssl: {ssl.OPENSSL_VERSION}, cryptography backend: {backend.openssl_version_text()}"
    )


def rss_bytes() -> int:
    """Return this process's resident set size."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")
