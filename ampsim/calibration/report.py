"""The compare table: its rows, the one writer and the one reader of ``compare.csv``, the text table and
the figure (``ampsim compare`` and ``ampsim compare --resimulate`` both make it).

A row holds a configuration's measured throughput (median and spread of the repeats) and the simulator's
(stretched for a shared machine, and ``dedicated``), the error in percent of the measurement, and what
explains a miss: the CPU the measured run's workers and controller used against the busy time the
simulation gave its chips and the work it gave its controller (``measured_worker_cpu_s`` /
``simulated_busy_s``; a miss with these equal lies in the waiting, not in the work). A chip's busy time is
stretched while it shares a core (``[host]``), where a worker's CPU time is not: with a host, compare them
knowing that.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ampsim.config import Config
from ampsim.errors import ConfigError
from ampsim.outputs import write_figure
from ampsim.tables import mean_staleness

__all__ = ["COMPARE_TABLE", "COMPARE_PLOT", "COLUMNS", "format_table", "noisy",
           "plot", "ranking_agreement", "read_csv", "row", "write_csv"]

#: a compare folder's table (:func:`write_csv`, :func:`read_csv`) and its figure (:func:`plot`)
COMPARE_TABLE, COMPARE_PLOT = "compare.csv", "compare.png"
#: repeats of one configuration further apart than this (max / min - 1) make its error meaningless
NOISY_SPREAD = 0.2

COLUMNS = ["config", "workers", "mak", "instances", "measured_throughput", "measured_throughput_min",
           "measured_throughput_max", "repeats", "simulated_throughput",
           "throughput_error_pct", "measured_time_s", "simulated_time_s", "measured_time_to_target_s",
           "simulated_time_to_target_s", "time_to_target_error_pct", "measured_metric", "simulated_metric",
           "dedicated_throughput", "dedicated_error_pct", "cores", "demand", "speed", "slowdown",
           "messages_per_instance", "remote_per_instance", "measured_worker_cpu_s", "simulated_busy_s",
           "measured_controller_cpu_s", "simulated_controller_cpu_s", "measured_return_lag_s",
           "measured_admit_lag_s", "measured_staleness", "simulated_staleness"]
#: what a table needs to be re-scored (``--resimulate``): older tables lack the CPU columns
REQUIRED = ("config", "workers", "speed", "cores", "messages_per_instance", "remote_per_instance")


def row(label: str, cfg: Config, m: dict, s: dict, fix: dict) -> dict:
    """One table row. ``simulated_*``: the simulator's result stretched by the shared-machine slowdown
    (what it predicts for this machine as it was during the run); ``dedicated_*``: its own output."""
    def ttt(summary):
        t = summary.get("time_to_target")
        return t["time_s"] if t else None

    slow = fix["slowdown"]
    mt, dt = m["throughput_instances_per_s"], s["throughput_instances_per_s"]
    st = dt / slow if dt else dt
    mtt, dtt = ttt(m), ttt(s)
    stt = dtt * slow if dtt is not None else None
    return {"config": label, "workers": m.get("n_workers"), "mak": cfg.train.mak, "instances": m["instances"],
            "measured_throughput": mt, "measured_throughput_min": min(fix.get("measured", [mt])),
            "measured_throughput_max": max(fix.get("measured", [mt])), "repeats": len(fix.get("measured", [mt])),
            "simulated_throughput": st, "throughput_error_pct": _err(st, mt),
            "measured_time_s": m["time_s"], "simulated_time_s": s["time_s"] * slow,
            "measured_time_to_target_s": mtt, "simulated_time_to_target_s": stt,
            "time_to_target_error_pct": _err(stt, mtt),
            "measured_metric": m["final_metric"], "simulated_metric": s["final_metric"],
            "dedicated_throughput": dt, "dedicated_error_pct": _err(dt, mt), "cores": fix["cores"],
            "demand": fix["demand"], "speed": fix["speed"], "slowdown": slow,
            "messages_per_instance": fix["messages_per_instance"],
            "remote_per_instance": fix["remote_per_instance"],
            "measured_worker_cpu_s": sum(m.get("worker_cpu_s") or [0.0]),
            "simulated_busy_s": s["time_s"] * sum(s.get("chip_utilization", [])),
            "measured_controller_cpu_s": m.get("controller_cpu_s"),
            "simulated_controller_cpu_s": s.get("controller_cpu_s"),
            # the completion round trip's medians (the multicore summary's completion_lag_s; runs
            # measured before it was recorded have none); the simulator's are 0 by construction
            "measured_return_lag_s": _lag(m, "return"), "measured_admit_lag_s": _lag(m, "admit"),
            # the order of events, where throughput is their rate: the mean staleness of a backward step
            # at a parameterized node (over every repeat where there are several)
            "measured_staleness": fix.get("measured_staleness", mean_staleness([m])),
            "simulated_staleness": mean_staleness([s])}


def _lag(summary: dict, part: str) -> float | None:
    return (summary.get("completion_lag_s") or {}).get(part, {}).get("median")


def _err(sim: float | None, meas: float | None) -> float | None:
    if sim is None or meas is None or not meas:
        return None
    return 100.0 * (sim - meas) / meas


def ranking_agreement(rows: list[dict]) -> dict:
    """Do measured and simulated throughput rank the configurations alike?

    Two configurations whose measured ranges (min to max over the repeats) overlap are *tied*: the
    measurement cannot order them, so that pair counts neither for nor against. ``kendall_tau`` is
    (concordant - discordant) / ordered pairs; ``agrees`` is True when no ordered pair is discordant;
    ``same_order`` compares the two strict orders (medians), ties included.

    Parameters
    ----------
    rows : list of dict
        One per configuration: ``config`` (its name), ``measured_throughput`` (the median over the
        repeats), ``simulated_throughput`` and, optionally, ``measured_throughput_min`` and ``_max``.

    Returns
    -------
    dict
        ``kendall_tau``, ``agrees``, ``ties`` (pairs the measurement cannot order), ``same_order``, and
        ``measured_order`` and ``simulated_order`` (the configurations, fastest first).

    Examples
    --------
    >>> rows = [{"config": "mak1", "measured_throughput": 100.0, "simulated_throughput": 110.0},
    ...         {"config": "mak4", "measured_throughput": 300.0, "simulated_throughput": 280.0},
    ...         {"config": "mak8", "measured_throughput": 310.0, "simulated_throughput": 270.0,
    ...          "measured_throughput_min": 290.0, "measured_throughput_max": 330.0}]
    >>> r = ranking_agreement(rows)  # mak4 and mak8 overlap: tied, so their swapped order counts for nothing
    >>> r["kendall_tau"], r["agrees"], r["ties"], r["same_order"]
    (1.0, True, 1, False)
    >>> r["measured_order"], r["simulated_order"]
    (['mak8', 'mak4', 'mak1'], ['mak4', 'mak8', 'mak1'])
    """
    m = [r["measured_throughput"] for r in rows]
    s = [r["simulated_throughput"] for r in rows]
    lo = [r.get("measured_throughput_min", v) for r, v in zip(rows, m)]
    hi = [r.get("measured_throughput_max", v) for r, v in zip(rows, m)]
    pairs = [(i, j) for i in range(len(rows)) for j in range(i + 1, len(rows))]
    ordered = [(i, j) for i, j in pairs if hi[i] < lo[j] or hi[j] < lo[i]]
    conc = sum(1 for i, j in ordered if (m[i] - m[j]) * (s[i] - s[j]) > 0)
    disc = sum(1 for i, j in ordered if (m[i] - m[j]) * (s[i] - s[j]) <= 0)
    order_m = sorted(range(len(rows)), key=lambda i: -m[i])
    order_s = sorted(range(len(rows)), key=lambda i: -s[i])
    return {"kendall_tau": (conc - disc) / len(ordered) if ordered else 1.0, "agrees": disc == 0,
            "ties": len(pairs) - len(ordered), "same_order": order_m == order_s,
            "measured_order": [rows[i]["config"] for i in order_m],
            "simulated_order": [rows[i]["config"] for i in order_s]}


def noisy(rows: list[dict], limit: float = NOISY_SPREAD) -> list[str]:
    """The configurations whose repeated measurements lie more than ``limit`` apart (max / min - 1): on a
    machine that noisy, an error smaller than the spread says nothing about the simulator.

    >>> noisy([{"config": "a", "measured_throughput_min": 100.0, "measured_throughput_max": 110.0},
    ...        {"config": "b", "measured_throughput_min": 76.7, "measured_throughput_max": 103.7}])
    ['b (35 % apart)']
    """
    out = []
    for r in rows:
        lo, hi = r.get("measured_throughput_min"), r.get("measured_throughput_max")
        if lo and hi and hi / lo - 1 > limit:
            out.append(f"{r['config']} ({100 * (hi / lo - 1):.0f} % apart)")
    return out


def write_csv(rows: list[dict], path: Path) -> None:
    """``compare.csv``: one line per row, the columns of :data:`COLUMNS` (None as empty)."""
    from ampsim.results import atomic_write

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r[k] is None else r[k]) for k in COLUMNS})
    atomic_write(path, buf.getvalue())


def read_csv(path: Path) -> list[dict]:
    """The rows of ``compare.csv`` as strings (a missing, unreadable or foreign file: one-line error)."""
    from ampsim.files import read_text

    rows = list(csv.DictReader(read_text(path).splitlines()))
    if not rows or not set(REQUIRED) <= set(rows[0]):
        raise ConfigError(f"{path}: not a compare table (no rows with {', '.join(sorted(REQUIRED))})")
    return rows


def format_table(rows: list[dict], agreement: dict) -> str:
    """The comparison as an aligned text table plus the ranking verdict (the first column as wide as its longest
    label: a longer one than 22 characters shifted its row's columns)."""
    w = max([22, *(len(r["config"]) for r in rows)])
    head = (f"{'config':<{w}} {'measured/s':>10} {'simulated/s':>11} {'error':>8} {'speed':>5} {'cores':>5} "
            f"{'demand':>6} "
            f"{'dedicated/s':>11} {'error':>8} {'remote':>6} {'meas.TTT s':>10} {'sim.TTT s':>9} {'staleness':>11}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['config']:<{w}} {r['measured_throughput']:>10.1f} {r['simulated_throughput']:>11.1f} "
                     f"{_pct(r['throughput_error_pct']):>8} {r['speed']:>5.2f} {r['cores']:>5.2f} {r['demand']:>6.2f} "
                     f"{r['dedicated_throughput']:>11.1f} {_pct(r['dedicated_error_pct']):>8} "
                     f"{r['remote_per_instance'] / max(r['messages_per_instance'], 1):>6.0%} "
                     f"{_num(r['measured_time_to_target_s']):>10} {_num(r['simulated_time_to_target_s']):>9} "
                     f"{_pair(r.get('measured_staleness'), r.get('simulated_staleness')):>11}")
    ties = agreement.get("ties", 0)
    lines.append(f"ranking: {'agrees' if agreement['agrees'] else 'differs'} "
                 f"(Kendall tau {agreement['kendall_tau']:+.2f}"
                 f"{f'; {ties} pair(s) tied within the measured spread' if ties else ''}); "
                 f"measured: {' > '.join(agreement['measured_order'])}; "
                 f"simulated: {' > '.join(agreement['simulated_order'])}")
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f}%"


def _pair(measured: float | None, simulated: float | None) -> str:
    """``measured/simulated`` (two decimals), or n/a where either is missing."""
    if measured is None or simulated is None:
        return "n/a"
    return f"{measured:.2f}/{simulated:.2f}"


def _num(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"


def plot(rows: list[dict], agreement: dict, path: Path, title: str) -> None:
    """Grouped bars of measured vs simulated throughput per configuration, errors annotated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(rows) + 2), 3.8))
    med = np.array([r["measured_throughput"] for r in rows])
    spread = [med - [r.get("measured_throughput_min", m) for r, m in zip(rows, med)],
              [r.get("measured_throughput_max", m) for r, m in zip(rows, med)] - med]
    ax.bar(x - 0.27, med, 0.27, yerr=spread, capsize=3, label="measured (multicore; median, min-max of repeats)")
    ax.bar(x, [r["simulated_throughput"] for r in rows], 0.27, label="simulated, cores free during the run")
    ax.bar(x + 0.27, [r["dedicated_throughput"] for r in rows], 0.27, label="simulated, dedicated cores",
           color="lightgray")
    for i, r in enumerate(rows):
        top = max(r["measured_throughput"], r["simulated_throughput"], r["dedicated_throughput"])
        ax.annotate(_pct(r["throughput_error_pct"]), (i, top), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [r["config"] for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("instances / s")
    ax.set_title(f"{title}\nranking {'agrees' if agreement['agrees'] else 'differs'} "
                 f"(Kendall tau {agreement['kendall_tau']:+.2f})", fontsize=9)
    wide = len(rows) >= 4  # a figure this wide fits the legend in one row above the bars
    ax.legend(fontsize=8, ncols=3 if wide else 1, loc="upper left")
    ax.margins(y=0.3 if wide else 0.6)  # room above the bars: the legend hides no annotation
    fig.tight_layout()
    try:
        write_figure(fig, path, dpi=120)
    finally:
        plt.close(fig)
