"""`make bench`: run every benchmarks/bench_*.py module's ``main()`` in turn (results/bench/*.csv).

``python -m benchmarks.run_all [name ...]`` runs only the named ones (e.g. ``engine sim``).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = argv or sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    for name in names:
        t0 = time.perf_counter()
        print(f"== bench {name}", flush=True)
        importlib.import_module(f"benchmarks.bench_{name}").main()
        print(f"== bench {name} done in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
