"""A Python load generator, used when wrk is not installed: keep-alive connections, one per thread.

Run as its own process: `python bench/loadgen.py URL PATH TOKENS_FILE SECONDS CONNECTIONS`. It prints
the same BENCH_JSON line as bench/load.lua. Python's GIL caps it well below wrk; the ratios between
variants hold, the absolute req/s are lower.
"""
from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit


def main(url: str, path: str, tokens_file: str, seconds: float, connections: int) -> None:
    with open(tokens_file) as handle:
        tokens = [line.strip() for line in handle if line.strip()]
    parts = urlsplit(url)
    deadline = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(connections)]
    buckets: list[dict[int, int]] = [{} for _ in range(connections)]
    non200 = [0] * connections
    errors = [0] * connections

    def worker(n: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        i = n * 389
        while time.monotonic() < deadline:
            i += 1
            token = tokens[i % len(tokens)]
            start = time.perf_counter()
            try:
                connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                errors[n] += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                continue
            latencies[n].append(time.perf_counter() - start)
            second = int(time.time())
            buckets[n][second] = buckets[n].get(second, 0) + 1
            if status != 200:
                non200[n] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    duration = time.monotonic() - started
    merged = sorted(x for series in latencies for x in series) or [0.0]
    per_second: dict[int, int] = {}
    for bucket in buckets:
        for second, count in bucket.items():
            per_second[second] = per_second.get(second, 0) + count
    print("BENCH_JSON " + json.dumps({
        "requests": len(merged),
        "duration_us": int(duration * 1e6),
        "p50_us": int(merged[len(merged) // 2] * 1e6),
        "p99_us": int(merged[min(len(merged) - 1, int(len(merged) * 0.99))] * 1e6),
        "non200": sum(non200),
        "socket_errors": sum(errors),
        "per_second": sorted(per_second.items()),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
