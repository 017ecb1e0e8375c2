"""Values that would make a run endless or exhaust memory are refused in one line, before any work."""

import subprocess
import sys
from pathlib import Path

import pytest

from ampsim.cli import main
from ampsim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_a_huge_fully_connected_topology_is_refused_before_building_it(tmp_path, capsys):
    hw = (ROOT / "hardware_models" / "ring4.toml").read_text().replace('kind = "ring"', 'kind = "fully_connected"')
    hw = hw.replace("n = 4", "n = 65536")
    (tmp_path / "fc.toml").write_text(hw)
    assert main(["info", str(tmp_path / "fc.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "topology.n: a fully connected topology of 65536 chips has 2,147,450,880 links" in err[0]


def test_an_absurd_list_length_is_refused(capsys):
    assert main(["train", str(ROOT / "experiments" / "list_reduction.toml"), "--set", "data.max_len=1000000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ampsim: error: --set data.max_len: must be <= 10000, got 1000000"]  # (the file holds no such value)


def test_a_list_field_longer_than_ten_thousand_is_refused(capsys):
    """The README's guarantee: model.hidden of 20,000 layers was accepted, then ran for minutes."""
    from ampsim.config import load_config, parse_override

    exp = ROOT / "experiments" / "blobs_mlp.toml"
    assert load_config(exp, [("model.hidden", [1] * 10_000)]).model.hidden == [1] * 10_000
    hidden = "[" + ",".join(["1"] * 20_000) + "]"
    assert main(["train", str(exp), "--no-progress", "--set", f"model.hidden={hidden}"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ampsim: error: --set model.hidden: 20,000 items, more than the limit of 10,000"]
    with pytest.raises(ConfigError, match=r"data\.ops: 10,001 items, more than the limit of 10,000$"):
        load_config(ROOT / "experiments" / "list_reduction.toml", [parse_override(f"data.ops={['sum'] * 10_001}")])


def test_a_closed_pipe_is_not_a_traceback():
    p = subprocess.run(f"{sys.executable} -m ampsim.cli info {ROOT / 'hardware_models' / 'torus8x8.toml'} | head -1",
                       shell=True, capture_output=True, text=True)
    assert p.stdout.startswith("name") and "Traceback" not in p.stderr


@pytest.mark.parametrize("n", [4, 2000])
def test_fully_connected_topologies_up_to_the_limit_still_load(n):
    from ampsim.hardware.parse import system_from_dict

    d = {"system": {"name": "t", "source": "t"},
         "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e9, "overhead_s": 0.0, "memory_bytes": 1e9},
         "link": {"latency_s": 1e-6, "bandwidth_bytes_per_s": 1e9}, "topology": {"kind": "fully_connected", "n": n}}
    assert system_from_dict(d, "t.toml").n_chips == n


@pytest.mark.parametrize("name", ["..", "", "a/b", "../../etc"])
def test_a_sweep_name_cannot_place_results_outside_results_sweeps(tmp_path, capsys, name):
    (tmp_path / "s.toml").write_text(f'[sweep]\nname = "{name}"\nexperiment = "{ROOT / "experiments" / "blobs_mlp.toml"}"\n'
                                     '[grid]\n"train.mak" = [1]\n')
    assert main(["sweep", str(tmp_path / "s.toml"), "--check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sweep.name:" in err[0] and "cannot name a folder in results/sweeps/" in err[0]
    if name not in ("", ".."):  # with an output folder it names the sweep only, as the message says
        assert main(["sweep", str(tmp_path / "s.toml"), "--check", "--out", str(tmp_path / "out")]) == 0


def test_a_bad_compare_configuration_is_blamed_on_configs_before_anything_is_measured(capsys):
    assert main(["compare", str(ROOT / "experiments" / "blobs_mlp.toml"), "--configs", "mak=1;mak=abc",
                 "--hardware", str(ROOT / "hardware_models" / "local_cpu.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ampsim: error: --configs 'mak=abc': ")
    assert err[0].endswith("train.mak: expected integer, got string 'abc'")


def test_a_compare_configuration_without_a_value_is_blamed_on_configs(capsys):
    assert main(["compare", str(ROOT / "experiments" / "blobs_mlp.toml"), "--configs", "mak=1;mak",
                 "--hardware", str(ROOT / "hardware_models" / "local_cpu.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ampsim: error: --configs mak: expected KEY=VALUE, e.g. mak=4"]


@pytest.mark.parametrize("argv, line", [
    (["--configs", ""], "ampsim: error: --configs '': no configuration given (e.g. \"mak=1;mak=4\")"),
    (["--configs", "mak=1,mak=2"], "ampsim: error: --configs 'mak=1,mak=2': train.mak set twice in one configuration "
                                   "(\";\" separates configurations)"),
    (["--repeat", "100000000"], "ampsim: error: --repeat: must be 1..100, got 100000000"),
], ids=["empty-configs", "a-key-twice", "endless-repeats"])
def test_compare_refuses_what_it_would_measure_wrongly_or_for_ever_before_measuring(capsys, argv, line):
    """An empty --configs (an unset shell variable) measured the default configurations; a key given twice
    in one configuration kept the last silently; 10**8 repeats measured until killed."""
    assert main(["compare", str(ROOT / "experiments" / "blobs_mlp.toml"), *argv,
                 "--hardware", str(ROOT / "hardware_models" / "local_cpu.toml")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [line]


def test_compare_resimulate_reads_and_checks_its_experiment(tmp_path, capsys):
    """With --from, the experiment file was never read: a missing file was accepted, and another experiment's
    name re-scored the measurements of the one in --from under it."""
    measured = ROOT / "results" / "compare" / "list_reduction"
    assert main(["compare", str(tmp_path / "nope.toml"), "--resimulate", "--from", str(measured), "--out",
                 str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"ampsim: error: {tmp_path / 'nope.toml'}: no such file"]
    assert main(["compare", str(ROOT / "experiments" / "mnist_mlp.toml"), "--resimulate", "--from", str(measured),
                 "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"ampsim: error: {measured}: holds measurements of 'list_reduction', not of experiment 'mnist_mlp'; give that "
        "experiment's file, or its measurements (--from)"]
    assert not (tmp_path / "r").exists()


def _one_line(capsys, argv: list) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ampsim: error: "), err
    return err[0]


@pytest.mark.parametrize("section, depth", [("train", 500), ("hardware", 600), ("placement.map", 150)])
def test_an_experiment_file_nested_too_deep_in_tables_is_one_line(tmp_path, capsys, section, depth):
    """Tables nested by a dotted header: RecursionError (a 3,000-line traceback) when the file was copied."""
    exp = tmp_path / "deep.toml"
    header = ".".join([section] + ["a"] * depth)
    exp.write_text((ROOT / "experiments" / "blobs_mlp.toml").read_text() + f"\n[{header}]\nx = 1\n")
    line = _one_line(capsys, ["train", exp, "--no-progress", "--out", tmp_path / "r"])
    assert line.startswith(f"ampsim: error: {exp}: {section.split('.')[0]}.")
    assert line.endswith("nested too deep (or holds itself)")
    assert not (tmp_path / "r").exists()


def test_a_hardware_file_nested_too_deep_is_one_line(tmp_path, capsys):
    hw = tmp_path / "deep.toml"
    hw.write_text((ROOT / "hardware_models" / "ring4.toml").read_text() + f"\n[chip.{'.'.join(['a'] * 600)}]\nx = 1\n")
    assert _one_line(capsys, ["info", hw]) == f"ampsim: error: {hw}: nested too deep (more than 100 tables or arrays)"


@pytest.mark.parametrize("extra, key", [
    ("[hardware]\nfoo = 1979-05-27T07:32:00Z", "hardware.foo"),
    ('[placement]\nstrategy = "explicit"\nmap = {"*" = 1979-05-27}', "placement.map"),
    ("[replicas]\nnodes = {a = 07:32:00}", "replicas.nodes"),
], ids=["hardware", "placement.map", "replicas.nodes"])
def test_a_date_in_a_file_where_no_type_is_checked_is_one_line_before_anything_runs(tmp_path, capsys, extra, key):
    """The reference executor ignores [hardware]: the TypeError came when config.toml was written, after the plan."""
    exp = tmp_path / "dt.toml"
    exp.write_text((ROOT / "experiments" / "blobs_mlp.toml").read_text() + "\n" + extra + "\n")
    line = _one_line(capsys, ["train", exp, "--no-progress", "--set", "data.n_train=64", "--set", "train.epochs=1",
                              "--out", tmp_path / "r"])
    assert line.startswith(f"ampsim: error: {exp}: {key}: cannot write datetime.") and "as TOML" in line
    assert not (tmp_path / "r").exists()


HUGE = "1" + "0" * 4000  # (TOML reads it; Python writes at most 4,300 digits, so a product of two could not be shown)


@pytest.mark.parametrize("topology, field", [
    (f'kind = "mesh2d"\nshape = [{HUGE}, {HUGE}]', "topology.shape"),
    (f'kind = "torus2d"\nshape = [1{"0" * 400}, 3]', "topology.shape"),
    (f'kind = "torus3d"\nshape = [3, 3, {HUGE}]', "topology.shape"),
    (f'kind = "explicit"\nedges = [[0, 1], [1, {HUGE}]]', "topology.edges[1]"),
    (f'kind = "explicit"\nedges = [[0, 1{"0" * 400}]]', "topology.edges[0]"),
    (f'kind = "ring"\nn = 4\n[[chip_override]]\nchips = [1{"0" * 400}]\nflops_per_s = 1e9', "chip_override[0].chips"),
], ids=["mesh2d", "torus2d-400-digits", "torus3d", "edges", "edges-400-digits", "chip_override"])
def test_a_huge_size_or_index_in_a_hardware_file_is_the_one_too_large_line(tmp_path, capsys, topology, field):
    """A ValueError traceback (int->str conversion limit) before, or a line holding all 400 digits."""
    hw = (ROOT / "hardware_models" / "ring4.toml").read_text().replace('kind = "ring"\nn = 4', topology)
    (tmp_path / "hw.toml").write_text(hw)
    assert _one_line(capsys, ["info", tmp_path / "hw.toml"]) == (
        f"ampsim: error: {tmp_path / 'hw.toml'}: {field}: 10000000000000000000… is beyond any size or count ampsim "
        "takes (at most 2**53)")


def test_a_huge_topology_shape_given_with_set_is_one_line(tmp_path, capsys):
    line = _one_line(capsys, ["train", ROOT / "experiments" / "blobs_mlp.toml", "--executor", "sim", "--hardware",
                              ROOT / "hardware_models" / "ring4.toml", "--no-progress", "--out", tmp_path / "r",
                              "--set", f'hardware.topology={{kind="torus2d",shape=[{HUGE},{HUGE}]}}'])
    assert line.endswith("topology.shape: 10000000000000000000… is beyond any size or count ampsim takes "
                         "(at most 2**53)")


@pytest.mark.parametrize("old, new, field, got", [
    ("flops_per_s = 2.5e14", "flops_per_s = 1e308", "chip.flops_per_s", "must be <= 1e+30 (a rate per second), "
                                                                         "got 1e+308"),
    ("bandwidth_bytes_per_s = 3.2e10", "bandwidth_bytes_per_s = 1e31", "link.bandwidth_bytes_per_s",
     "must be <= 1e+30 (a rate per second), got 1e+31"),
    ("flops_per_s = 6.25e13", "flops_per_s = 1.7e308", "chip_override[0].flops_per_s",
     "must be <= 1e+30 (a rate per second), got 1.7e+308"),
    ("bandwidth_bytes_per_s = 3.2e9", "bandwidth_bytes_per_s = 1e300", "link_override[0].bandwidth_bytes_per_s",
     "must be <= 1e+30 (a rate per second), got 1e+300"),
    ("mem_bandwidth_bytes_per_s = 4.75e13", "mem_bandwidth_bytes_per_s = inf", "chip.mem_bandwidth_bytes_per_s",
     "must be finite, got inf"),
    ("flops_per_s = 2.5e14", "flops_per_s = nan", "chip.flops_per_s", "must be finite, got nan"),
], ids=["chip", "link", "chip_override", "link_override", "inf", "nan"])
def test_a_rate_beyond_any_machine_is_one_line(tmp_path, capsys, old, new, field, got):
    """Rates had a floor (>= 1) and no ceiling: 1e308 FLOP/s was taken, and ampsim info's total was "inf EFLOP/s"
    (four chips of it overflow a float)."""
    text = (ROOT / "hardware_models" / "hetero_straggler.toml").read_text()
    assert text.count(old) == 1
    hw = tmp_path / "hw.toml"
    hw.write_text(text.replace(old, new))
    assert _one_line(capsys, ["info", hw]) == f"ampsim: error: {hw}: {field}: {got}"
    # 1e30, the ceiling itself, is a machine (tests stand for free memory traffic with it): finite totals
    hw.write_text(text.replace(old, new.split("=")[0] + "= 1e30"))
    assert main(["info", str(hw)]) == 0
    assert "inf" not in capsys.readouterr().out
