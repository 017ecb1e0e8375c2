"""`make bench`: run every ``benchmarks/bench_*.py`` module's ``main()`` in turn (results/bench/*.csv).

``python -m benchmarks.run_all [--quick --out DIR] [name ...]``: ``name`` runs only those (e.g. ``engine
sim``); ``--quick`` runs a few instances of every case into ``DIR`` (the smoke test,
``tests/test_benchmarks_smoke.py``; seconds, and its numbers mean nothing).

A benchmark that fails (an import error, a crash, a dataset missing under ``AMPSIM_REQUIRE_DATA=1``) is
reported with its traceback and the others still run; the exit status is 1 if any failed, so neither
``make bench`` nor the smoke test can pass over a broken one.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import output_folder, parser

HERE = Path(__file__).parent


def available() -> list[str]:
    """The benchmark names: ``bench_<name>.py`` modules next to this file."""
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", metavar="name", help=f"benchmarks to run (default all: {' '.join(available())})")
    args = p.parse_args(argv)
    out = output_folder(p, args)
    unknown = sorted(set(args.names) - set(available()))
    if unknown:
        p.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(available())}")
    failed = []
    for name in args.names or available():
        t0 = time.perf_counter()
        print(f"== bench {name}{' (quick)' if args.quick else ''}", flush=True)
        try:
            importlib.import_module(f"benchmarks.bench_{name}").main(out=out, quick=args.quick)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            print(f"== bench {name} FAILED after {time.perf_counter() - t0:.1f} s", flush=True)
        else:
            print(f"== bench {name} done in {time.perf_counter() - t0:.1f} s", flush=True)
    if failed:
        print(f"== benchmarks failed: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
