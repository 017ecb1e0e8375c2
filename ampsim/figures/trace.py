"""Figures of where the time goes: a utilization heatmap over a sweep and the timeline of one traced run.

* ``heatmap`` — one row per value of ``y`` (a swept key; default the first), one column per chip (left
  panel) and per directed link (right panel, when the runs have links); colour = fraction of the run's
  (simulated) time the chip or link was busy, from each run's summary.json. The first seed is shown.
* ``timeline`` — the first point matching ``where`` (it must have run with ``executor.trace = true``):
  one row per chip (and per link when ``links`` is true, default when there are at most 24 links), a bar
  per span coloured by kind (fwd, bwd, update, transfer), over the first ``window`` fraction of the run.
"""

from __future__ import annotations

import json
from pathlib import Path

from ampsim.errors import DataError, RunError
from ampsim.figures.canvas import new_figure, pyplot
from ampsim.figures.labels import axis_label, short_value
from ampsim.figures.selection import groups
from ampsim.files import read_text
from ampsim.results import read_summary
from ampsim.sweeps.figspec import FigureSpec
from ampsim.trace import LINK_PID, STEP_PHASES

__all__ = ["draw_heatmap", "draw_timeline", "load_spans"]

#: a span's colour by its phase (the last word of a node step's label), and the links' transfers
COLORS = dict(zip((*STEP_PHASES, "transfer"), ("#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f")))


def draw_heatmap(df, sweep_dir: Path, spec: FigureSpec, swept: list[str]):
    """Chip (and link) utilization: rows = values of ``spec.y`` (first seed), columns = chips / links."""
    import numpy as np

    row_key = spec.y or next((k for k in swept if k != "experiment.seed"), None)
    if row_key is None or row_key not in df.columns:
        raise RunError(f"figure {spec.name}: heatmap rows: no column {row_key!r} in the sweep table")
    rows, chips, links = [], [], []
    for values, sub in groups(df, (row_key,)):
        summary = read_summary(sweep_dir / str(sub["point_id"].iloc[0]))
        if "chip_utilization" not in summary:
            raise RunError(f"figure {spec.name}: run {sub['point_id'].iloc[0]} has no chip utilization "
                           "(only the simulated executor reports it)")
        rows.append(short_value(values[0]))
        chips.append(summary["chip_utilization"])
        links.append(summary.get("link_utilization") or {})
    link_names = sorted({k for d in links for k in d}, key=_link_order)
    n_chips = max(len(c) for c in chips)
    chip_m = np.full((len(rows), n_chips), np.nan)
    for i, c in enumerate(chips):
        chip_m[i, : len(c)] = c
    panels = [("chip", chip_m, [str(i) for i in range(n_chips)])]
    if link_names:
        link_m = np.array([[d.get(n, np.nan) for n in link_names] for d in links], dtype=float)
        panels.append(("directed link", link_m, link_names))
    plt = pyplot()
    height = 1.2 + sum(0.9 + 0.28 * len(rows) for _ in panels)
    fig = plt.figure(figsize=(7.0, min(9.0, height)), dpi=120, layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    vmax = max(0.05, float(np.nanmax([np.nanmax(m) for _, m, _ in panels])))
    image = None
    for ax, (what, m, names) in zip(axes, panels):
        image = ax.imshow(m, aspect="auto", cmap="viridis", vmin=0.0, vmax=vmax, interpolation="nearest")
        ax.set_xlabel(f"{what} (index)" if what == "chip" else f"{what} (from->to chip)", fontsize=8)
        step = max(1, -(-len(names) // 24))
        ax.set_xticks(range(0, len(names), step), names[::step], fontsize=6,
                      rotation=90 if what != "chip" else 0)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_ylabel(axis_label(row_key), fontsize=8)
        ax.set_title(f"{what} utilization", fontsize=9)
    cbar = fig.colorbar(image, ax=list(axes), shrink=0.9)
    cbar.set_label("utilization (fraction of time busy)", fontsize=8)
    fig.suptitle(spec.title or spec.name.replace("_", " "), fontsize=10)
    return fig


def _link_order(name: str) -> tuple:
    a, _, b = name.partition("->")
    return tuple(int(x) if x.isdigit() else x for x in (a, b))


def load_spans(trace_path: Path) -> tuple[list[tuple[str, str, float, float]], dict[int, str]]:
    """(row, kind, start µs, duration µs) for every span of a Chrome trace, and the link thread names."""
    try:  # through the one reader: an unreadable or binary trace is one line
        data = json.loads(read_text(trace_path, error=DataError))
    except json.JSONDecodeError as e:
        raise DataError(f"{trace_path}: invalid JSON ({e})") from None
    events = data["traceEvents"] if isinstance(data, dict) else data
    link_names = {e["tid"]: e["args"]["name"] for e in events
                  if e.get("ph") == "M" and e.get("name") == "thread_name" and e.get("pid") == LINK_PID}
    spans = []
    for e in events:
        if e.get("ph") != "X":
            continue
        if e["pid"] == LINK_PID:
            spans.append((f"link {link_names.get(e['tid'], e['tid'])}", "transfer", e["ts"], e["dur"]))
        else:
            kind = e["name"].rsplit(" ", 1)[-1]
            spans.append((f"chip {e['pid']}", kind if kind in COLORS else "fwd", e["ts"], e["dur"]))
    return spans, link_names


def draw_timeline(df, sweep_dir: Path, spec: FigureSpec, _swept: list[str]):
    """Gantt chart of the first matching run's trace.json: chips (and links) against simulated time."""
    from matplotlib.patches import Patch

    point = str(df["point_id"].iloc[0])
    trace = sweep_dir / point / "trace.json"
    if not trace.is_file():
        raise RunError(f"figure {spec.name}: {trace} not found (run the point with executor.trace = true)")
    spans, link_names = load_spans(trace)
    if not spans:
        raise RunError(f"figure {spec.name}: {trace} has no spans")
    end = max(s + d for _, _, s, d in spans) * spec.window
    show_links = spec.links if spec.links is not None else len(link_names) <= 24
    spans = [s for s in spans if s[2] < end and (show_links or not s[0].startswith("link"))]
    rows = sorted({s[0] for s in spans}, key=lambda r: (r.startswith("link"), _row_order(r)))
    index = {r: i for i, r in enumerate(rows)}
    fig, ax = new_figure((7.5, 1.5 + 0.22 * len(rows)))
    for kind, color in COLORS.items():
        for row in rows:
            bars = [(s, d) for r, k, s, d in spans if r == row and k == kind]
            if bars:
                ax.broken_barh(bars, (index[row] - 0.4, 0.8), facecolors=color, linewidth=0, rasterized=True)
    ax.set_yticks(range(len(rows)), rows, fontsize=6)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, end)
    ax.set_xlabel(spec.xlabel or "simulated time (µs)")
    ax.set_ylabel(spec.ylabel or ("chip / directed link" if show_links else "chip"))
    row = df.iloc[0]
    detail = ", ".join(f"{k.split('.')[-1]}={short_value(row[k])}" for k in spec.where) if spec.where else point
    ax.set_title(spec.title or f"{spec.name.replace('_', ' ')} ({detail})", fontsize=9, loc="left")
    kinds = [k for k in COLORS if any(s[1] == k for s in spans)]
    ax.legend(handles=[Patch(color=COLORS[k], label=k) for k in kinds], fontsize=7, loc="lower right",
              bbox_to_anchor=(1.0, 1.0), ncol=len(kinds), frameon=False, borderaxespad=0.2)
    fig.tight_layout()
    return fig


def _row_order(row: str) -> tuple:
    tail = row.split(" ", 1)[1]
    return _link_order(tail) if "->" in tail else (int(tail) if tail.isdigit() else tail,)
