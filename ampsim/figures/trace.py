"""Figures of where the time goes: a utilization heatmap over a sweep and the timeline of one traced run.

* ``heatmap`` — one row per value of ``y`` (a swept key; default the first), one column per chip (left
  panel) and per directed link (right panel, when the runs have links); colour = fraction of the run's
  (simulated) time the chip or link was busy, from each run's summary.json. The first seed is shown; a row
  whose points differ in another swept key is refused (one of them would stand for all: pick one with ``where``).
* ``timeline`` — the first point matching ``where`` (it must have run with ``executor.trace = true``):
  one row per chip (and per link when ``links`` is true, default when there are at most 24 links), a bar
  per span coloured by kind (fwd, bwd, update, a replica synchronization's jobs, frame sends, transfer; as
  :func:`ampsim.trace.span_kind` reads a chip span's label), over the first ``window`` fraction of the run.
* run timelines (``ampsim plot RUN_DIR... --timeline``, :func:`plot_run_timelines`) — traced run folders of
  any executor, a panel each on one time axis, with the controller's admissions and completions.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Sequence

from ampsim import runfiles
from ampsim.errors import AmpsimError, ConfigError, DataError, RunError
from ampsim.figures.canvas import new_figure, pyplot, save_image
from ampsim.figures.labels import axis_label, short_value
from ampsim.figures.runs import run_summary
from ampsim.figures.selection import groups
from ampsim.sweeps.figspec import FigureSpec
from ampsim.tables import stopped
from ampsim.trace import CONTROLLER_PID, LINK_PID, STEP_PHASES, read_events, span_kind

__all__ = ["check_window", "draw_heatmap", "draw_timeline", "load_spans", "load_trace", "plot_run_timelines",
           "MIN_WINDOW_US", "MIN_WINDOW_FRACTION"]

#: a span's colour by its kind (:func:`ampsim.trace.span_kind`: a node step's phase, a synchronization's job, frame
#: sends), and the links' transfers
COLORS = dict(zip((*STEP_PHASES, "sync", "send", "transfer"),
                  ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#7f7f7f")))


def draw_heatmap(df, sweep_dir: Path, spec: FigureSpec, swept: list[str]):
    """Chip (and link) utilization: rows = values of ``spec.y`` (first seed), columns = chips / links."""
    import numpy as np

    row_key = spec.y or next((k for k in swept if k != "experiment.seed"), None)
    if row_key is None or row_key not in df.columns:
        raise RunError(f"figure {spec.name}: heatmap rows: no column {row_key!r} in the sweep table")
    _check_one_point_per_row(df, spec, row_key, swept)
    rows, chips, links = [], [], []
    halted = stopped(df)
    if halted.all():
        raise RunError(f"figure {spec.name}: every point stopped (diverged or out of chip memory): no utilization "
                       "to draw")
    for values, sub in groups(df, (row_key,)):
        if halted[sub.index[0]]:  # (a blank row: it stopped before it measured any)
            rows.append(short_value(values[0]))
            chips.append([])
            links.append({})
            continue
        summary = run_summary(sweep_dir / str(sub["point_id"].iloc[0]), missing_ok=False)
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


def _check_one_point_per_row(df, spec: FigureSpec, row_key: str, swept: list[str]) -> None:
    """A RunError line naming the swept keys (but the seed) that vary among the rows of one heatmap row: it
    shows one point per row (the first seed), so it showed one of those points and left the others out."""
    groups_of = df.groupby(row_key, dropna=False)
    vary = [k for k in swept if k not in ("experiment.seed", row_key) and k in df.columns
            and (groups_of[k].nunique(dropna=False) > 1).any()]
    if vary:
        raise RunError(f"figure {spec.name}: a heatmap row per {row_key} shows one point, but the points of a row "
                       f"differ in {', '.join(vary)}; pick one with where = {{...}} or make it y")


def _link_order(name: str) -> tuple:
    a, _, b = name.partition("->")
    return _natural(a), _natural(b)


def _natural(part: str) -> tuple:
    """A sort key: numbers in numeric order, before text (so that any names compare, e.g. a hand-made trace's)."""
    return (0, int(part), "") if part.isdigit() else (1, 0, part)


def load_spans(trace_path: Path) -> tuple[list[tuple[str, str, float, float]], dict[int, str]]:
    """(row, kind, start µs, duration µs) for every span of a Chrome trace, and the link thread names."""
    spans, link_names, _ = load_trace(trace_path)
    return spans, link_names


def load_trace(trace_path: Path) -> tuple[list[tuple[str, str, float, float]], dict[int, str], dict[str, list[float]]]:
    """:func:`load_spans`, and the controller's instants: ``{"admit": [µs, ...], "complete": [...]}``.

    One pass over the events as :func:`ampsim.trace.read_events` streams them (a trace is never held as
    dicts: a 51 MB trace took 390 MB so, 5.7 s to plot); a span's row and kind are shared strings. A chip's row
    is its process's name (``"chip 0"``, a multicore run's ``"worker 0"``: process ids count from 1,
    :func:`ampsim.trace.chip_pid`), ``"chip <pid>"`` in a trace that names none."""
    marks: dict[str, list[float]] = {"admit": [], "complete": []}
    link_names: dict[int, str] = {}
    process_names: dict[int, str] = {}
    link_spans: list[tuple[int, float, float]] = []  # (tid, ts, dur): their names may come after them
    spans: list = []  # (pid, kind, ts, dur) until the end, then (row, ...): a process's name may come after it
    for i, e in enumerate(read_events(trace_path, error=DataError)):
        ph = e.get("ph")
        if ph == "X":
            pid = _field(trace_path, i, e, "pid", _is_int, "an integer")
            ts = _field(trace_path, i, e, "ts", _is_time, _TIME)
            dur = _field(trace_path, i, e, "dur", _is_duration, _DURATION)
            if pid == LINK_PID:
                link_spans.append((_field(trace_path, i, e, "tid", _is_int, "an integer"), ts, dur))
            else:
                kind = span_kind(_field(trace_path, i, e, "name", _is_text, "text"))
                spans.append((pid, _KINDS[kind], ts, dur))
        elif ph == "i" and e.get("pid") == CONTROLLER_PID and _is_text(e.get("name")) and e["name"] in marks:
            marks[e["name"]].append(_field(trace_path, i, e, "ts", _is_time, _TIME))
        elif ph == "M" and e.get("name") == "thread_name" and e.get("pid") == LINK_PID:
            link_names[_field(trace_path, i, e, "tid", _is_int, "an integer")] = _name_of(trace_path, i, e)
        elif ph == "M" and e.get("name") == "process_name" and e.get("pid") not in (LINK_PID, CONTROLLER_PID):
            process_names[_field(trace_path, i, e, "pid", _is_int, "an integer")] = _name_of(trace_path, i, e)
    chip_rows = {pid: process_names.get(pid) or f"chip {pid}" for pid in {s[0] for s in spans}}
    for j, (pid, kind, ts, dur) in enumerate(spans):  # (in place: a long trace's spans are many)
        spans[j] = (chip_rows[pid], kind, ts, dur)
    link_rows = {tid: f"link {link_names.get(tid, tid)}" for tid in {t for t, _, _ in link_spans}}
    spans.extend((link_rows[tid], "transfer", ts, dur) for tid, ts, dur in link_spans)
    return spans, link_names, marks


def _name_of(path: Path, i: int, event: dict) -> str:
    """The name a metadata event (``process_name``, ``thread_name``) gives, or one DataError line."""
    return _field(path, i, event, "args", lambda v: isinstance(v, dict) and _is_text(v.get("name")),
                  'an object with a text "name"')["name"]


#: each phase's name, once (a span's kind is this string, not one made per span)
_KINDS = {k: k for k in COLORS}


def _is_text(v) -> bool:
    return isinstance(v, str)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_TIME = "a number of µs within ±1e15"
#: the largest time a trace's event may give, in µs (31 years): beyond it, a span's end or the axis overflowed
MAX_TIME_US = 1e15


def _is_time(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= MAX_TIME_US


_DURATION = "a number of µs from 0 to 1e15"


def _is_duration(v) -> bool:  # (a negative one was drawn as a bar ending before it began, exit 0)
    return _is_time(v) and v >= 0


def _field(path: Path, i: int, event: dict, key: str, ok, want: str):
    """``event[key]`` (event ``i`` of the trace at ``path``) if ``ok`` of it, else one DataError line naming the
    file, the event and the field."""
    if key not in event:
        raise DataError(f"{path}: event {i}{_named(event)}: no {key!r} field")
    value = event[key]
    if not ok(value):
        shown = json.dumps(value, default=repr)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise DataError(f"{path}: event {i}{_named(event)}: {key!r} must be {want}, got {shown}")
    return value


def _named(event: dict) -> str:
    name = event.get("name")
    return f" ({name!r})" if isinstance(name, str) and len(name) <= 40 else ""


def draw_timeline(df, sweep_dir: Path, spec: FigureSpec, _swept: list[str]):
    """Gantt chart of the first matching run's trace.json (of those that did not stop): chips (and links) against
    simulated time."""
    from matplotlib.patches import Patch

    ran = df[~stopped(df)]  # (one that stopped, diverged or out of chip memory, wrote no trace)
    if ran.empty:
        raise RunError(f"figure {spec.name}: every matching point stopped (diverged or out of chip memory): no "
                       "trace to draw")
    df = ran
    point = str(df["point_id"].iloc[0])
    trace = sweep_dir / point / runfiles.TRACE
    if not trace.is_file():
        raise RunError(f"figure {spec.name}: {trace} not found (run the point with executor.trace = true)")
    spans, link_names = load_spans(trace)
    if not spans:
        raise RunError(f"figure {spec.name}: {trace} has no spans")
    end = max(s + d for _, _, s, d in spans) * spec.window_fraction
    check_window(0.0, end, f"figure {spec.name}: window {spec.window_fraction:g}", RunError)
    # (links, not lanes: messages sharing a packet link take lanes of their own, named as the link)
    show_links = spec.links if spec.links is not None else len(set(link_names.values())) <= 24
    spans = [s for s in spans if s[2] < end and (show_links or not s[0].startswith("link"))]
    rows = _rows(spans)
    fig, ax = new_figure((7.5, 1.5 + 0.22 * len(rows)))
    _gantt(ax, spans, rows)
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


#: the most chip rows ``plot --timeline`` draws (at a quarter of an inch each, a figure 64 inches tall)
MAX_TIMELINE_ROWS = 256


def plot_run_timelines(runs: Sequence[str | Path], out: str | Path, window_s: float | None = None,
                       start_s: float = 0.0) -> Path:
    """The timelines of traced run folders, one panel each on one time axis (``ampsim plot RUN... --timeline``):
    a row per chip (a worker, for the multicore executor), a bar per span coloured by phase, and a
    controller row with a tick where each instance was admitted and a cross where it completed; the
    ``window_s`` seconds from ``start_s`` (default: all). A measured run and its simulation, side by side,
    show where they part: the pipeline's phase, the controller's round trip."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    begin = start_s * 1e6
    if window_s:  # (before any trace is read: a 161 MB one takes seconds)
        check_window(begin, begin + window_s * 1e6, f"--window-s {window_s:g}")
    traces = []
    for run in runs:  # every trace read and checked before anything is drawn
        path = Path(run) / runfiles.TRACE
        if not os.path.lexists(path):  # (a reference run trained with --trace has none: it runs on no machine)
            why = ("the reference executor writes none; train it with --executor sim or multicore, and --trace"
                   if run_summary(run).get("executor") == "reference" else "train the run with --trace")
            raise ConfigError(f"{path}: no such file ({why})")
        spans, _, marks = load_trace(path)  # (its reader says what a folder or pipe there is)
        spans = [s for s in spans if not s[0].startswith("link")]
        if not spans:
            raise ConfigError(f"{path}: no spans")
        traces.append((spans, marks, run_summary(run)))
    last = max(s + d for spans, *_ in traces for _, _, s, d in spans)
    if begin >= last:  # an empty figure drawn without a word, before
        raise ConfigError(f"--start-s {start_s:g}: after the end of the runs' traces ({last / 1e6:.6g} s)")
    end = begin + window_s * 1e6 if window_s else last
    if not window_s:  # (to the traces' end: a start just before it leaves too narrow a window too)
        check_window(begin, end, f"--start-s {start_s:g}")
    if (n := sum(len(_rows(spans)) for spans, *_ in traces)) > MAX_TIMELINE_ROWS:  # (3,000: 18 s, a 90,222 px PNG)
        raise ConfigError(f"{n:,} chips' rows to draw; a timeline draws at most {MAX_TIMELINE_ROWS:,} (its rows "
                          "would be unreadable): plot a run of fewer busy chips, or fewer runs at once")
    heights = [1.0 + 0.25 * (len(_rows(spans)) + 1) for spans, *_ in traces]
    fig, axes = pyplot().subplots(len(traces), 1, sharex=True, squeeze=False, dpi=120,
                                  figsize=(7.5, 0.6 + sum(heights)), gridspec_kw={"height_ratios": heights})
    for ax, run, (spans, marks, summary) in zip(axes[:, 0], runs, traces):
        spans = [s for s in spans if s[2] < end and s[2] + s[3] > begin]
        rows = _rows(spans)
        _gantt(ax, spans, rows, extra=1)
        y = len(rows)
        for what, marker, color in (("admit", "|", "#2ca02c"), ("complete", "x", "black")):
            ts = [t for t in marks[what] if begin <= t < end]
            ax.plot(ts, [y] * len(ts), marker, color=color, markersize=5, linestyle="none")
        ax.set_yticks(range(y + 1), [*rows, "controller"], fontsize=6)
        ax.set_title(f"{Path(run).name} ({summary.get('executor', '?')}, {summary.get('time_unit', '?')} time)",
                     fontsize=8, loc="left")
    ax = axes[-1, 0]
    ax.set_xlim(begin, end)
    # (6 digits, as before, unless the window is narrower than they tell apart: every tick of 0.3 ms + 1 ns read 0.3)
    digits = max(6, math.ceil(math.log10(max(abs(begin), abs(end)) / (end - begin))) + 3)
    ax.xaxis.set_major_formatter(lambda x, _pos: f"{x / 1e3:.{digits}g}")
    ax.set_xlabel("time (ms)")
    kinds = [k for k in COLORS if any(s[1] == k for spans, *_ in traces for s in spans)]
    handles = [Patch(color=COLORS[k], label=k) for k in kinds] + [
        Line2D([], [], marker="|", color="#2ca02c", linestyle="none", label="admitted"),
        Line2D([], [], marker="x", color="black", linestyle="none", label="completed")]
    axes[0, 0].legend(handles=handles, fontsize=6, loc="lower right", bbox_to_anchor=(1.0, 1.0),
                      ncol=len(handles), frameon=False, borderaxespad=1.0)
    fig.tight_layout()
    return save_image(fig, out)


#: the narrowest window a timeline draws, in µs (a picosecond), and as a fraction of the times at its ends: an axis
#: cannot tell a narrower one's ends apart (matplotlib widened it to ±0.05 µs around them: negative times, drawn)
MIN_WINDOW_US, MIN_WINDOW_FRACTION = 1e-6, 1e-9


def check_window(begin: float, end: float, what: str, error: type[AmpsimError] = ConfigError) -> None:
    """One ``error`` line, ``what`` (the option or figure that chose it) first, where the window from ``begin`` to
    ``end`` µs is narrower than a timeline draws (:data:`MIN_WINDOW_US`, :data:`MIN_WINDOW_FRACTION`).

    >>> check_window(300.0, 300.001, "--window-s 1e-09")
    >>> check_window(0.0, 1e-294, "--window-s 1e-300")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ampsim.errors.ConfigError: --window-s 1e-300: a window of 1e-300 s from 0 s is narrower than a timeline draws (at...
    """
    least = max(MIN_WINDOW_US, MIN_WINDOW_FRACTION * max(abs(begin), abs(end)))
    if not end - begin >= least:
        raise error(f"{what}: a window of {(end - begin) / 1e6:.3g} s from {begin / 1e6:.6g} s is narrower than a "
                    f"timeline draws (at least {least / 1e6:.3g} s there: an axis cannot tell a narrower one's ends "
                    "apart)")


def _rows(spans: list[tuple[str, str, float, float]]) -> list[str]:
    """The rows of a Gantt chart: chips in index order, then links."""
    return sorted({s[0] for s in spans}, key=lambda r: (r.startswith("link"), _row_order(r)))


def _gantt(ax, spans: list[tuple[str, str, float, float]], rows: list[str], extra: int = 0) -> None:
    """A bar per span on its row, coloured by its kind; ``extra`` empty rows below (for the caller)."""
    index = {r: i for i, r in enumerate(rows)}
    bars: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r, k, s, d in spans:  # one pass (a pass per row and kind took seconds on a few hundred thousand spans)
        bars.setdefault((r, k), []).append((s, d))
    for kind, color in COLORS.items():  # drawn kind by kind, as before: later kinds on top
        for row in rows:
            if (row, kind) in bars:
                ax.broken_barh(bars[row, kind], (index[row] - 0.4, 0.8), facecolors=color, linewidth=0,
                               rasterized=True)
    ax.set_yticks(range(len(rows)), rows, fontsize=6)
    ax.set_ylim(len(rows) + extra - 0.5, -0.5)


def _row_order(row: str) -> tuple:
    tail = row.partition(" ")[2]  # (a process may be named in one word)
    return _link_order(tail) if "->" in tail else (_natural(tail),)
