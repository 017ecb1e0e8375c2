"""The ``ampsim sweep`` subcommand (registered by :mod:`ampsim.cli`; ``ampsim plot`` is
:mod:`ampsim.figures.cli`).

    ampsim sweep FILE.toml [--jobs N] [--ray [ADDRESS]] [--out DIR] [--quick] [--fresh] [--check]
                           [--no-progress]

Default folder: a sweep's points and table go to ``results/sweeps/<name>/``
(``results/quick/sweeps/<name>`` with ``--quick``). Progress: a bar on a terminal, one line per finished
point when stderr is a file or a pipe, nothing with ``--no-progress``.

Interruption: Ctrl-C, SIGTERM or SIGHUP stops the sweep within about a second, keeping every finished point
(see :mod:`ampsim.sweeps.run`), prints ``ampsim: interrupted; finished points are kept in <folder> (run the
same command again to finish the sweep)`` and exits with 130 (Ctrl-C), 143 (SIGTERM) or 129 (SIGHUP). A second sweep on
a folder in use fails with ``ampsim: error: <folder>: another sweep (pid N) is running in this folder``
(exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ampsim.errors import ConfigError
from ampsim.files import path_option

__all__ = ["add_parsers"]


def cmd_sweep(args: argparse.Namespace) -> int:
    from ampsim.sweeps.folder import check_sweep_folder
    from ampsim.sweeps.numerics import check_recordings_setting
    from ampsim.sweeps.run import check_jobs, check_start, point_tasks, run_sweep
    from ampsim.sweeps.spec import load_sweep

    if args.sweep is None and (args.ray or "").endswith(".toml"):  # `ampsim sweep --ray FILE.toml`
        args.sweep, args.ray = args.ray, ""
    if args.sweep is None:
        raise ConfigError("sweep: give a sweep file, e.g. ampsim sweep experiments/sweeps/mak_mnist.toml")
    sweep = load_sweep(args.sweep, quick=args.quick)
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs: must be >= 1, got {args.jobs}")
    out = Path(args.out) if args.out else sweep.default_dir
    if args.check:  # and where it would write (changing nothing), and how many processes
        check_jobs(args.jobs, args.ray or None)
        check_recordings_setting([p.replays for p in sweep.points])
        check_sweep_folder(out, sweep.name, sweep.path, quick=sweep.quick, fresh=args.fresh)
        if out.is_dir():  # and what the sweep would refuse there as it starts
            check_start(point_tasks(sweep, out), out, args.fresh)
        # (its [quick] table's values too: its keys alone were checked, and a bad value failed only with --quick)
        quick = load_sweep(args.sweep, quick=True) if sweep.has_quick and not args.quick else None
        print(f"{args.sweep}: {len(sweep.points)} valid points over {', '.join(sweep.keys)}"
              + (f" ({len(quick.points)} in its [quick] variant)" if quick else ""))
        return 0
    use_ray = args.ray is not None
    try:  # (SIGTERM arrives as Terminated, a KeyboardInterrupt: ampsim.cli.main)
        table = run_sweep(sweep, out, jobs=args.jobs, ray=use_ray, ray_address=args.ray or None,
                          fresh=args.fresh, progress=not args.no_progress)
    except KeyboardInterrupt as e:
        e.add_note(f"finished points are kept in {out} (run the same command again to finish the sweep)")
        raise
    print(f"sweep {sweep.name}: {len(sweep.points)} points; table in {table}")
    return 0


def add_parsers(sub) -> None:
    """Register ``sweep`` on the CLI's subparsers object."""
    s = sub.add_parser("sweep", help="run a what-if sweep (local process pool or Ray), resumable")
    s.add_argument("sweep", nargs="?", help="sweep TOML file (experiments/sweeps/*.toml)")
    s.add_argument("--jobs", type=int, help="parallel points (default: the cores available)")
    s.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run points as Ray tasks: on the cluster at ADDRESS, or a local Ray instance")
    s.add_argument("--out", type=path_option, help="sweep folder (default: results/sweeps/<name>)")
    s.add_argument("--quick", action="store_true", help="the sweep's small [quick] variant")
    s.add_argument("--fresh", action="store_true", help="delete this sweep's earlier results first")
    s.add_argument("--check", action="store_true", help="validate every point and stop")
    s.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    s.set_defaults(func=cmd_sweep)
