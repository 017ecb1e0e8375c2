"""The ``ampsim`` command's entry point (:mod:`ampsim.__main__`): a Ctrl-C while the command's modules load is
one line and exit status 130, not Python's traceback; ``import ampsim`` stays light so the guard runs first."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import ampsim

ROOT = Path(__file__).resolve().parents[2]

#: installed before ampsim loads: importing numpy announces itself on stderr, then takes ``DELAY`` seconds
#: (a slow disk), or is interrupted at once (``DELAY`` < 0: Ctrl-C arriving exactly then)
SLOW_NUMPY = """
import sys, time
DELAY = {delay}
class SlowNumpy:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            print("loading numpy", file=sys.stderr, flush=True)
            if DELAY < 0:
                raise KeyboardInterrupt
            time.sleep(DELAY)
        return None
sys.meta_path.insert(0, SlowNumpy())
import runpy
runpy.run_module("ampsim", run_name="__main__")
"""


def _ampsim(delay: float, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SLOW_NUMPY.format(delay=delay), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_import_ampsim_loads_no_numpy_and_the_api_comes_on_first_use():
    code = "import sys, ampsim; print('numpy' in sys.modules); ampsim.train; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
    from ampsim import api, errors, planning

    assert (ampsim.train, ampsim.Plan, ampsim.ConfigError) == (api.train, planning.Plan, errors.ConfigError)
    assert set(ampsim.__all__) <= set(dir(ampsim))
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        ampsim.trian  # noqa: B018 - the lookup is the test


def test_the_console_script_is_the_guarded_entry_point():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"ampsim": "ampsim.__main__:main"}


def test_ctrl_c_while_the_modules_load_is_one_line_and_exit_130():
    proc = _ampsim(-1, "train", "experiments/blobs_mlp.toml")
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err, out) == (128 + signal.SIGINT, "loading numpy\nampsim: interrupted\n", "")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_real_signal_while_the_modules_load_is_one_line_and_exit_128_plus_it(sig):
    """SIGINT printed Python's traceback; SIGTERM ended the process without a word."""
    proc = _ampsim(30, "train", "experiments/blobs_mlp.toml")
    try:
        assert proc.stderr.readline() == "loading numpy\n"  # the interpreter and ampsim's guard are running
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert (proc.returncode, err, out) == (128 + sig, "ampsim: interrupted\n", "")


def test_the_command_runs_through_the_entry_point():
    proc = _ampsim(0, "keys", "--help")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "usage: ampsim keys" in out and err == "loading numpy\n"


def test_a_config_reads_every_task_without_the_api_loaded_first():
    """``import ampsim`` no longer loads the task modules, which register the tasks' [data]/[model]: the config
    asks the package for them (a compare's resimulation read a run's config.toml first: "unknown task
    'sst_treelstm' (known: )")."""
    code = ("import sys, glob\nfrom ampsim.config import load_config\n"
            "tasks = {load_config(f).experiment.task for f in sorted(glob.glob('experiments/*.toml'))}\n"
            "print(sorted(tasks))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert {"mlp", "sst_treelstm", "qm9_ggnn", "list_reduction"} <= set(ast.literal_eval(out))


def test_version_is_the_projects_and_the_command_prints_it(capsys):
    """``ampsim --version`` prints the package's version, which is pyproject.toml's (it said "the following
    arguments are required: command")."""
    from ampsim.cli import main

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert ampsim.__version__ == project
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"ampsim {project}\n"
