"""The ``ampsim`` command.

    ampsim train EXP.toml [--set train.lr=0.01] [--out DIR] [--executor sim --hardware HW.toml]
    ampsim info HW.toml
    ampsim demo [--out DIR]
    ampsim sweep SWEEP.toml [--jobs N] [--ray [ADDRESS]] [--out DIR] [--quick]
    ampsim plot SWEEP.toml | RUN_DIR... [--out DIR]
    ampsim calibrate [--out hardware_models/local_cpu.toml] [--workers N]
    ampsim compare EXP.toml [--workers N] [--set KEY=VALUE] [--configs "mak=1;mak=4"]
    ampsim keys [--format markdown] [--update README.md]

User errors print one line, ``ampsim: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Iterator, NoReturn

import ampsim
from ampsim.blame import blaming
from ampsim.errors import (
    TERMINATED,
    AmpsimError,
    ConfigError,
    Terminated,
    exit_status,
    raise_interrupted,
    raise_terminated,
    stop_signals_reset,
)
from ampsim.executors import EXECUTORS
from ampsim.files import machine_error, path_option
from ampsim.outputs import check_folder_name
from ampsim.wording import CLI, worded

__all__ = ["main"]

log = logging.getLogger("ampsim")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", help="experiment TOML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=0.01 (repeatable)")
    p.add_argument("--out", type=path_option, help="run folder (default: results/<experiment.name>)")
    p.add_argument("--executor", choices=tuple(EXECUTORS), help="= --set executor.kind=…")
    p.add_argument("--hardware", type=path_option,
                   help="hardware model TOML (the simulated executor, unless --executor or --set executor.kind says "
                        "otherwise: the multicore executor's workers then take its chips' rates)")
    p.add_argument("--workers", type=int,
                   help="worker processes, 0: one per core (the multicore executor, where nothing else chose one: "
                        "--executor, --hardware, --set executor.kind or the file's executor.kind)")
    p.add_argument("--trace", action="store_true", help="write trace.json (Chrome/Perfetto)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress (by default: a bar on a terminal, one line per epoch otherwise)")


def cmd_train(args: argparse.Namespace) -> int:
    from ampsim.api import train
    from ampsim.config import load_config, parse_override
    from ampsim.tomltext import check_writable

    overrides: list = [parse_override(o) for o in args.overrides]  # (errors name --set, not the API's argument)
    chosen = [v for k, v in overrides if k == "executor.kind"]  # by --set: the last one counts, as in the config
    given_by = {}  # (the option that gave a key its last value: the plan stage's errors about it name it, not --set)
    if args.executor:
        if chosen and chosen[-1] != args.executor:  # (the later --executor silently won)
            raise ConfigError(f"--executor {args.executor}: --set executor.kind={chosen[-1]!r} chose another executor; "
                              "give one of them")
        overrides.append(("executor.kind", args.executor))
        given_by["executor.kind"] = "--executor"
    if args.hardware:
        check_writable("--hardware", args.hardware, "")  # (its config.toml names it)
        overrides.append(("executor.hardware", args.hardware))
        given_by["executor.hardware"] = "--hardware"
        if not args.executor and not chosen:  # (an explicit --set executor.kind was overridden by this, silently)
            overrides.append(("executor.kind", "sim"))
            given_by["executor.kind"] = "--hardware"
    if args.workers is not None:
        from ampsim.hardware.local import check_workers

        check_workers(args.workers)  # (as --workers: it was refused as --set executor.workers)
        overrides.append(("executor.workers", args.workers))
        given_by["executor.workers"] = "--workers"
    if args.trace:
        overrides.append(("executor.trace", True))
        given_by["executor.trace"] = "--trace"
    cfg = load_config(args.experiment, overrides, given_by=given_by)
    if args.workers is not None and cfg.executor.kind == "reference" and not any(
            k == "executor.kind" for k, _ in overrides):  # where nothing else chose: as --hardware picks the simulator
        cfg = load_config(args.experiment, [*overrides, ("executor.kind", "multicore")],
                          given_by={**given_by, "executor.kind": "--workers"})
    if args.out:
        out = Path(args.out)
    else:  # the default folder must stay inside results/: one plain name (a --set of it named as the --set)
        with blaming(cfg):
            out = Path("results") / check_folder_name(cfg.experiment.name, f"{cfg.path}: experiment.name")
    summary = train(cfg, out, progress=not args.no_progress).summary
    epochs = summary["epochs"]
    print(f"{summary['metric']} = {_fmt(summary['final_metric'])} (best {_fmt(summary['best_metric'])}) "
          f"after {epochs} epoch{'' if epochs == 1 else 's'}, {_fmt(summary['time_s'], '.3g')} "
          f"{summary['time_unit']} s; results in {out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from ampsim.hardware.info import describe, format_info
    from ampsim.hardware.parse import load_system
    from ampsim.hardware.topology import build_topology

    system = load_system(args.hardware)
    print(format_info(describe(system, build_topology(system))))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ampsim.demo import run_demo

    try:
        figure = run_demo(Path(args.out), progress=not args.no_progress)
    except KeyboardInterrupt as e:  # (Ctrl-C said only "interrupted": as a sweep, what was kept)
        if (points := Path(args.out) / "sweep").is_dir():
            e.add_note(f"finished points are kept in {points} (run the same command again to finish the demo)")
        raise
    print(f"demo figure written to {figure}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from ampsim.keys import render, update_readme

    if args.update:
        changed = update_readme(args.update)
        print(f"{args.update}: key tables {'rewritten' if changed else 'already up to date'}")
    else:
        print(render(args.format), end="")
    return 0


def _fmt(v, spec: str = ".4f") -> str:
    return "n/a" if v is None else format(v, spec)


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one error line (its subcommands' parsers are of this class too): a bad command
    line is ``ampsim: error: <what>; see `<command> --help```, status 2, where argparse prints its usage
    first and names the subcommand in the prefix."""

    def error(self, message: str) -> NoReturn:
        print(f"ampsim: error: {message}; see `{self.prog} --help`", file=sys.stderr)
        raise SystemExit(2)

    def parse_args(self, args=None, namespace=None) -> argparse.Namespace:
        """As argparse's, but an option the command does not know is that command's error (argparse hands
        unknown arguments up to the top parser, whose line said ``see `ampsim --help```)."""
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            subs = [a for a in self._actions if isinstance(a, argparse._SubParsersAction)]
            command = subs[0].choices.get(getattr(ns, subs[0].dest, None)) if subs else None
            # (-v after the command: the command's help, which the line points to, has no -v to find)
            own = next((a for a in extras if a == "--verbose" or re.fullmatch(r"-v+", a)), None) if command else None
            where = (f" (an option of ampsim itself: give it before the command, ampsim {own} "
                     f"{getattr(ns, subs[0].dest)} ...)" if own else "")
            (command or self).error(f"unrecognized arguments: {' '.join(extras)}{where}")
        return ns


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ampsim", description="Simulate asynchronous model-parallel training.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv for debug)")
    p.add_argument("--version", action="version", version=f"%(prog)s {ampsim.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train an experiment with one executor")
    _add_train_args(t)
    t.set_defaults(func=cmd_train)
    i = sub.add_parser("info", help="describe a hardware model")
    i.add_argument("hardware", type=path_option, help="hardware model TOML file (hardware_models/*.toml)")
    i.set_defaults(func=cmd_info)
    d = sub.add_parser("demo", help="a small offline run that writes a figure")
    d.add_argument("--out", type=path_option, default="results/demo",
                   help="demo folder: new, empty or an earlier demo's (default: results/demo)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    d.set_defaults(func=cmd_demo)
    k = sub.add_parser("keys", help="every key of experiment and hardware files, as markdown tables")
    k.add_argument("--format", choices=("markdown",), default="markdown", help="output format (default markdown)")
    k.add_argument("--update", type=path_option, metavar="README",
                   help="rewrite the tables between the keys markers in this file")
    k.set_defaults(func=cmd_keys)
    from ampsim.calibration.cli import add_parsers as add_calibration_parsers  # calibrate, compare
    from ampsim.figures.cli import add_parsers as add_plot_parsers  # plot
    from ampsim.sweeps.cli import add_parsers as add_sweep_parsers  # sweep

    add_sweep_parsers(sub)
    add_plot_parsers(sub)
    add_calibration_parsers(sub)
    return p


@contextlib.contextmanager
def _numpy_quiet(quiet: bool) -> Iterator[None]:
    """Diverging training overflows long before the loss turns NaN; the loss nodes' check reports that as one
    line, so numpy's floating-point warnings would only add noise before it (unless -vv). For the command only:
    a process that calls :func:`main` (the tests) keeps its own settings."""
    if not quiet:
        yield
        return
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        yield


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0), or a bad command line (2: its one line is printed)
        return e.code if isinstance(e.code, int) else 2
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    main_thread = threading.current_thread() is threading.main_thread()
    # (Python's own Ctrl-C and our SIGTERM, each raised once: a second one is the same request, see errors.py).
    # SIGHUP (the terminal closed) as SIGTERM: by default it ended the process where it stood, running points
    # and their temporaries, and the sweep's lock, left behind; ignored (nohup), it stays ignored
    stops = (signal.SIGTERM, signal.SIGINT) + ((signal.SIGHUP,) if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN
                                               else ())
    previous = ([signal.signal(signum, raise_interrupted if signum == signal.SIGINT else raise_terminated)
                 for signum in stops] if main_thread else None)
    stop_signals_reset()
    try:
        with _numpy_quiet(args.verbose < 2), worded(CLI):  # (ampsim train runs through the API: its options)
            code = args.func(args)
        if TERMINATED:  # a SIGTERM whose exception Python dropped (raised in a fork hook: "Exception ignored")
            raise Terminated("the command had finished when the SIGTERM's stop took effect")
        return code
    except AmpsimError as e:
        print(f"ampsim: error: {_one_line(e)}", file=sys.stderr)
        return e.exit_code
    except MemoryError as e:
        # parameters are checked against free memory before they are allocated (ampsim.ir.param); this is
        # what slips past that check (numpy's message names the size and shape)
        print(f"ampsim: error: out of memory ({_one_line(e) or 'an allocation failed'}); make the model or its data "
              "smaller", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`ampsim info ... | head`): what it wanted was printed; nothing else to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        # the machine, not ampsim: a full disk or quota, a read-only or failing file system, a folder locked
        # down while the command ran. Anything else stays a traceback (a bug)
        if (line := machine_error(e)) is None:
            raise
        print(f"ampsim: error: {_one_line(e, line)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated): what was kept, the notes say
        try:
            print(f"ampsim: interrupted{'; ' + _one_line(e) if _one_line(e) else ''}", file=sys.stderr)
        except OSError:  # (a SIGHUP's terminal is gone: no one to tell)
            pass
        # a SIGTERM's Terminated may come back as a plain KeyboardInterrupt through code that re-raises its
        # own (Ray's wait, checking signals in its C++ core): the signal noted by the handler decides
        term = isinstance(e, Terminated) or bool(TERMINATED)
        return 128 + (TERMINATED[0] if TERMINATED else signal.SIGTERM if term else signal.SIGINT)
    finally:
        if previous is not None:
            for signum, handler in zip(stops, previous):
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _one_line(e: BaseException, message: str | None = None) -> str:
    """The exception's message (or ``message``) and its notes (e.g. where a failed run's partial folder is) as
    one line."""
    parts = [str(e).strip() if message is None else message, *getattr(e, "__notes__", ())]
    return "; ".join(p.replace("\r", " ").replace("\n", " ") for p in parts if p)


if __name__ == "__main__":  # `python -m ampsim.cli` (`ampsim` and `python -m ampsim` are ampsim/__main__.py)
    sys.exit(exit_status(main()))
