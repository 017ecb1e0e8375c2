"""The ``calibrate`` and ``compare`` subcommands (wired into :mod:`ampsim.cli`).

    ampsim calibrate [--out hardware_models/local_cpu.toml] [--workers N] [--quick]
    ampsim compare EXP.toml [--workers N] [--set KEY=VALUE ...] [--configs "mak=1;mak=4"] [--repeat N]
                   [--hardware HW.toml] [--out DIR]
    ampsim compare EXP.toml [EXP.toml ...] --resimulate [--from DIR] [--set hardware.KEY=VALUE ...]
                   [--hardware HW.toml] [--out DIR]

A thin layer over :func:`ampsim.calibration.run_calibration` and :func:`ampsim.calibration.run_compare`:
it parses the arguments and prints the one-line summary or the table (the only prints of the package).
User errors (a malformed experiment, a hardware model of another machine) are
:class:`~ampsim.errors.AmpsimError`s, which :func:`ampsim.cli.main` prints as one line (exit status 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ampsim.files import path_option

__all__ = ["add_parsers"]


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Measure this machine, write the model, print its main numbers on one line."""
    from ampsim.calibration.thismachine import run_calibration

    system, raw = run_calibration(args.out, args.workers, args.quick)  # (one at a time into a model: it locks it)
    c, link = system.chip_default, system.link
    errs = ", ".join(f"{k} {v:+.0%}" for k, v in raw["fit"]["workload_errors"].items())
    print(f"{args.out}: {system.n_chips} workers; chip {c.flops_per_s / 1e9:.1f} GFLOP/s, "
          f"{c.mem_bandwidth_bytes_per_s / 1e9:.2f} GB/s, overhead {c.overhead_s * 1e6:.2f} us/message + "
          f"{c.kernel_overhead_s * 1e6:.2f} us/operation; "
          f"link {link.latency_s * 1e6:.1f} us, {link.bandwidth_bytes_per_s / 1e9:.2f} GB/s "
          f"(workload fit errors: {errs}; took {raw['seconds']:.1f} s)")
    t, r = raw["node_errors"]["table"], raw["node_errors"]["roofline"]
    print(f"node-level error over {t['works']} distinct node calls ({t['calls']} calls, held-out pass): median "
          f"{t['median']:.1%}, 90th percentile {t['p90']:.1%} with the compute table ({len(c.compute_table)} rows; "
          f"weighted by calls {t['median_per_call']:.1%}, {t['p90_per_call']:.1%}); roofline alone {r['median']:.1%}, "
          f"{r['p90']:.1%}; contention slowdown {c.contention_slowdown:+.1%} while both cores are busy")
    if raw.get("self_check"):
        from ampsim.calibration.selfcheck import self_check_line

        print(self_check_line(raw["self_check"]))
    return 0


#: the most measurements of each configuration ``compare --repeat`` takes (each some seconds to a minute)
MAX_REPEAT = 100


def cmd_compare(args: argparse.Namespace) -> int:
    """Measure and simulate every configuration; print the table and where the files went."""
    from ampsim.calibration.compare import default_folder, run_compare
    from ampsim.calibration.report import COMPARE_PLOT, COMPARE_TABLE, format_table
    from ampsim.config import load_config, parse_override
    from ampsim.errors import ConfigError
    from ampsim.outputs import check_output_dir
    from ampsim.tomltext import check_writable

    if not 1 <= args.repeat <= MAX_REPEAT:  # (10**8 repeats started measuring, for ever)
        raise ConfigError(f"--repeat: must be 1..{MAX_REPEAT}, got {args.repeat}")
    if args.hardware:  # (the simulated runs' config.toml names it)
        check_writable("--hardware", args.hardware, "")
    if args.resimulate:
        return _resimulate(args)
    if args.measured:
        raise ConfigError("--from: only with --resimulate (compare measures anew otherwise)")
    if len(args.experiment) > 1:
        raise ConfigError(f"compare measures one experiment at a time, got {len(args.experiment)} "
                          "(several go with --resimulate)")
    out = check_output_dir(args.out) if args.out else None  # before minutes of measuring
    overrides = [parse_override(o) for o in args.overrides]
    rows, agreement = run_compare(args.experiment[0], overrides, args.configs, args.workers, args.hardware, out,
                                  repeat=args.repeat)
    print(format_table(rows, agreement))
    where = out or default_folder(load_config(args.experiment[0], overrides))
    print(f"written: {COMPARE_TABLE} and {COMPARE_PLOT} under {where}")
    return 0


def _resimulate(args: argparse.Namespace) -> int:
    """``compare --resimulate``: each experiment's measurements (under ``--from``, default
    results/compare/<experiment>) against the model as it is now; the controller fit over all of them."""
    from ampsim.calibration.compare import default_folder
    from ampsim.calibration.report import COMPARE_PLOT, COMPARE_TABLE, format_table
    from ampsim.calibration.rescore import resimulate
    from ampsim.calibration.transport import describe_controller_fit
    from ampsim.config import load_config, parse_override
    from ampsim.errors import ConfigError

    # what only a measurement takes: re-scoring takes every configuration as measured (each was ignored: --configs
    # "mak=1" re-scored them all)
    for option, given in (("--configs", args.configs is not None), ("--workers", args.workers is not None),
                          ("--repeat", args.repeat != 1)):
        if given:
            raise ConfigError(f"{option}: not with --resimulate, which re-scores every configuration as it was "
                              "measured (and as often); measure anew with ampsim compare")
    overrides = [parse_override(o) for o in args.overrides]
    if (args.measured or args.out) and len(args.experiment) > 1:
        raise ConfigError("--from and --out name one experiment's folders: give one experiment with them")
    sides = []
    for experiment in args.experiment:
        cfg = load_config(experiment, overrides)
        name = cfg.experiment.name  # (also with --from: it must be that experiment)
        measured = Path(args.measured) if args.measured else default_folder(
            cfg, "give the measured compare folder with --from")
        rows, agreement, runs = resimulate(measured, overrides, args.hardware, args.out, experiment=name)
        sides += runs
        print(format_table(rows, agreement))
        print(f"written: {COMPARE_TABLE} and {COMPARE_PLOT} under {args.out or measured / 'resimulated'}")
    print(f"controller CPU in these {len(sides)} measured runs: {describe_controller_fit(sides)} (what calibrate's "
          "[host] holds)")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``calibrate`` and ``compare`` to the ``ampsim`` subcommands ``sub``."""
    c = sub.add_parser("calibrate", help="measure this machine; write a hardware model of it")
    c.add_argument("--out", type=path_option, default="hardware_models/local_cpu.toml",
                   help="the model written (default: hardware_models/local_cpu.toml; its measurements beside it)")
    c.add_argument("--workers", type=int, help="chips in the model (default, or 0: one per core)")
    c.add_argument("--quick", action="store_true", help="measure ~5x less (~15 s on 2 cores); noisier numbers")
    c.set_defaults(func=cmd_calibrate)
    m = sub.add_parser("compare", help="measured (multicore) vs simulated (calibrated) throughput")
    m.add_argument("experiment", nargs="+", help="experiment TOML file (several with --resimulate)")
    m.add_argument("--workers", type=int, help="worker processes (default, or 0: one per core)")
    m.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value for every configuration (repeatable); with --resimulate only "
                        "hardware.* what-ifs and executor.numerics")
    m.add_argument("--configs", help='configurations, e.g. "workers=1,mak=1;mak=4;mak=16" '
                                     "(default: 1 and N workers, mak 1/4/16)")
    m.add_argument("--hardware", type=path_option,
                   help="calibrated model of this machine (default: hardware_models/local_cpu.toml, calibrated first "
                        "if missing)")
    m.add_argument("--out", type=path_option, help="output folder (default: results/compare/<experiment>)")
    m.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="measure every configuration N times (the median run is shown, for an even N the "
                        "faster of the two middle ones; the spread decides ranking ties)")
    m.add_argument("--resimulate", action="store_true",
                   help="measure nothing: simulate the configurations measured under --from again, on the model "
                        "as it is now (with --set hardware.* what-ifs), and score it against those measurements")
    m.add_argument("--from", dest="measured", metavar="DIR", type=path_option,
                   help="with --resimulate: a compare output folder (default: results/compare/<experiment>)")
    m.set_defaults(func=cmd_compare)
