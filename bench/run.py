"""Run Kunci's benchmarks and print Markdown tables: `make bench`, or `bench/run.py [--smoke] [SECTION ...]`.

Sections run in priority order; with none named, all of them run. `--smoke` runs each one tiny, in
seconds, only to keep the scripts working: its figures mean nothing.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import machine_line  # noqa: E402


def _sections():
    from bench.backchannel import backchannel_section
    from bench.hashing import hashing_concurrency_section, hashing_cost_section
    from bench.http_throughput import rotation_section, throughput_section
    from bench.issuer import growth_section, issuer_section
    from bench.jwks_fetches import jwks_section
    from bench.logout import logout_section
    from bench.oidc import oidc_section
    from bench.rp_memory import rp_memory_section
    from bench.slow_clients import slow_clients_section
    from bench.verify import key_count_section, verify_section

    return {
        "verify": ("1. Verifying one token in process", [verify_section]),
        "http": ("2. HTTP throughput of one protected endpoint", [throughput_section]),
        "jwks": ("3. JWKS fetches", [jwks_section]),
        "issuer": ("4. Issuer: refresh and login", [issuer_section]),
        "growth": ("5. Growth", [growth_section, key_count_section, rp_memory_section]),
        "rotation": ("6. Key rotation under load", [rotation_section]),
        "slow": ("7. Slow clients", [slow_clients_section]),
        "hashing": ("8. Password hashing", [hashing_cost_section, hashing_concurrency_section]),
        "oidc": ("9. OpenID Provider: code exchange, SSO authorize, userinfo", [oidc_section]),
        "backchannel": ("10. Back-channel logout through the outbox", [backchannel_section]),
        "logout": ("11. Logout to refusal at the demo apps", [logout_section]),
    }


ORDER = ["verify", "jwks", "http", "issuer", "growth", "rotation", "slow", "hashing", "oidc", "backchannel", "logout"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sections", nargs="*", choices=[[], *ORDER], metavar="SECTION",
                        help=f"any of {', '.join(ORDER)} (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny and fast: keeps the scripts working")
    args = parser.parse_args(argv)
    chosen = [name for name in ORDER if name in (args.sections or ORDER)]
    sections = _sections()
    print("## Kunci benchmarks" + (" (smoke run: the figures mean nothing)" if args.smoke else ""))
    print()
    print(f"Machine: {machine_line()}")
    print()
    print("Command: `" + " ".join(["bench/run.py", *map(shlex.quote, sys.argv[1:] if argv is None else argv)]) + "`")
    print()
    failed = []
    started = time.monotonic()
    for name in chosen:
        title, parts = sections[name]
        print(f"## {title}")
        print()
        section_started = time.monotonic()
        for part in parts:
            try:
                for table in part(args.smoke):
                    print(table.render())
            except Exception:  # noqa: BLE001 - report it, go on with the other sections
                failed.append(f"{name}/{part.__name__}")
                print("```")
                print(traceback.format_exc().rstrip())
                print("```")
                print()
            sys.stdout.flush()
        print(f"_{name}: {time.monotonic() - section_started:.0f} s_")
        print()
        sys.stdout.flush()
    print(f"_Total: {time.monotonic() - started:.0f} s._")
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
