"""The README cannot rot: its key tables equal what the code generates, its Python API example runs, its
layout block names every module of ``ampsim/``, and its links and figures exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ampsim import keys
from ampsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "experiments" / "sweeps" / "README.md"]
REGENERATE = "README.md's key tables differ from the code; regenerate them with `ampsim keys --update README.md`"


def section(text: str, heading: str) -> str:
    """The text under ``## heading`` up to the next ``## `` heading."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def test_the_key_tables_equal_the_generated_ones():
    text = README.read_text()
    assert text.count(keys.BEGIN) == 1 and text.count(keys.END) == 1, f"README.md needs one {keys.BEGIN!r} block"
    block = text[text.index(keys.BEGIN) + len(keys.BEGIN) + 1:text.index(keys.END)]
    assert block == keys.render(), REGENERATE


def test_every_hardware_key_and_topology_has_a_description():
    assert keys.missing_help() == [], (f"add a line for each to HARDWARE_HELP / TOPOLOGY_HELP in {keys.__file__}, "
                                       f"then run `ampsim keys --update README.md`")


def test_every_experiment_section_and_task_is_listed():
    from ampsim.config import FIXED_SECTIONS, TASK_SCHEMAS

    text = keys.render()
    for section_name, cls in FIXED_SECTIONS.items():
        for name in cls.__dataclass_fields__:
            assert f"| `{section_name}.{name}` |" in text
    for task in TASK_SCHEMAS:
        assert f"of task `{task}`" in text


def test_the_hardware_table_reads_defaults_and_bounds_off_the_reader():
    text = keys.render()
    assert "| `chip.compute_units` |  | `1` | ≥ 1, ≤ 4,096 |" in text  # both bounds the reader enforces
    # a rate's floor, not "> 0": the reader refuses 0.5 FLOP/s (times must stay finite), and the table said > 0
    # ... and its ceiling: 1e308 FLOP/s was taken, and ampsim info's totals were inf
    assert "| `chip.flops_per_s` | FLOP/s | required | ≥ 1, ≤ 1e+30 |" in text
    assert "| `link.bandwidth_bytes_per_s` | bytes/s | required | ≥ 1, ≤ 1e+30 |" in text
    assert "| `chip.remote_send_s_per_byte` | s/byte | `0.0` | ≥ 0, ≤ 1e+09 |" in text  # (a floor of 0 stays)
    assert "| `link.latency_s` | s | required | ≥ 0, ≤ 1e+09 |" in text
    assert "| `executor.kind` | string | `\"reference\"` | `reference`, `sim`, `multicore` |" in text  # the registry
    assert "`n`: number of chips (≥ 3 for a ring, ≥ 2 for a switch, else ≥ 1)" in text
    # the other size keys' floors: shape = [2, 4] on a torus2d was refused, and the table gave no floor for it
    assert "`shape`: sizes per dimension, e.g. `[4, 4]` (each ≥ 3 for a torus2d, each ≥ 3 for a torus3d, else ≥ 1)" in text
    assert "`dim`: dimensions of the hypercube (≥ 1); `branching`: children per switch (≥ 2); `height`: levels" in text
    assert '| `system.switching` |  | `"store_and_forward"` | `store_and_forward`, `cut_through` |' in text


def test_keys_command_prints_the_tables_and_updates_a_readme(tmp_path, capsys):
    assert main(["keys"]) == 0
    assert capsys.readouterr().out == keys.render()
    stale = tmp_path / "README.md"
    stale.write_text(f"intro\n{keys.BEGIN}\nold tables\n{keys.END}\nrest\n")
    assert main(["keys", "--update", str(stale)]) == 0
    assert stale.read_text() == f"intro\n{keys.BEGIN}\n{keys.render()}{keys.END}\nrest\n"
    assert main(["keys", "--update", str(tmp_path / "none.md")]) == 2  # one line, exit 2
    two = tmp_path / "two.md"  # only the first block was rewritten, the second silently left stale
    two.write_text(f"{keys.BEGIN}\nold\n{keys.END}\nmiddle\n{keys.BEGIN}\nold\n{keys.END}\n")
    before = two.read_text()
    capsys.readouterr()
    assert main(["keys", "--update", str(two)]) == 2 and two.read_text() == before
    assert "2 keys blocks; keep one" in capsys.readouterr().err


def in_tmp(code: str) -> str:
    """``code`` with the repository's files named by absolute paths, to run where it writes nothing into
    the repository."""
    for folder in ("experiments/", "hardware_models/"):
        for quote in "\"'":
            code = code.replace(f"{quote}{folder}", f"{quote}{ROOT}/{folder}")
    return code


def test_the_python_api_examples_run(tmp_path):
    api = section(README.read_text(), "Python API")
    blocks = re.findall(r"```python\n(.*?)```", api, re.S)
    one_liners = re.findall(r'^python -c "(.*)"$', api, re.M)
    assert blocks and one_liners, "README.md: no Python API example"
    for code in ["\n".join(blocks), *one_liners]:
        r = subprocess.run([sys.executable, "-c", in_tmp(code)], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert "test_accuracy" in r.stdout


def test_the_layout_block_names_every_module():
    how = section(README.read_text(), "How it works")
    layout = re.search(r"```\nampsim/\n(.*?)```", how, re.S)
    assert layout, "README.md: no `ampsim/` layout block under ## How it works"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in (ROOT / "ampsim").iterdir()
                   if not p.name.startswith((".", "__pycache__")) and (p.is_dir() or p.suffix == ".py"))
    missing = [n for n in names if not re.search(rf"(^|[\s,]){re.escape(n)}([\s,]|$)", layout.group(1), re.M)]
    assert not missing, f"README.md's layout block lacks {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_figures_exist(doc):
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text())
    local = [t for t in targets if "://" not in t]
    missing = [t for t in local if not (doc.parent / t).exists()]
    assert not missing, f"{doc.name} links to missing files: {missing}"


def anchors(doc: Path) -> set[str]:
    """The ``#fragment`` each heading of ``doc`` gets on GitHub (lower case, punctuation dropped, spaces as
    hyphens, a repeated heading numbered), code blocks' comment lines left out."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in doc.read_text().splitlines():
        fenced ^= line.lstrip().startswith("```")
        heading = None if fenced else re.match(r"#{1,6} (.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_to_a_section_name_a_heading_it_has(doc):
    links = re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", doc.read_text())
    broken = [f"{target}#{fragment}" for target, fragment in links if "://" not in target
              and fragment not in anchors(doc.parent / target if target else doc)]
    assert not broken, f"{doc.name} links to sections that are not there: {broken}"


def test_module_paths_named_in_the_docs_exist():
    for doc in DOCS:
        for path in set(re.findall(r"`(ampsim/[\w/]+(?:\.py)?)`", doc.read_text())):
            assert (ROOT / path).exists(), f"{doc.name} names {path}, which does not exist"


#: a package folder's files the docs name from inside ``ampsim/`` (``executors/reference.py``, ``ir/sync.py``)
_PACKAGE_DIRS = "|".join(sorted(p.name for p in (ROOT / "ampsim").iterdir() if (p / "__init__.py").exists()))


def test_package_files_named_in_the_docs_exist():
    """A path inside the package (``executors/sim/collective.py``) or a bare file name (``fastloop.py``) a doc
    names is a file of the package, its tests or benchmarks: the ``ampsim/`` check above missed both forms."""
    here = {p.name for folder in ("ampsim", "tests", "benchmarks") for p in (ROOT / folder).rglob("*.py")}
    for doc in DOCS:
        text = doc.read_text()
        for path in set(re.findall(rf"`((?:{_PACKAGE_DIRS})/[\w/]+\.py)", text)):
            assert (ROOT / "ampsim" / path).exists(), f"{doc.name} names {path}, which is not ampsim/{path}"
        for name in set(re.findall(r"`(\w+\.py)\b", text)):
            assert name in here, f"{doc.name} names {name}, which no file of ampsim/, tests/ or benchmarks/ is"


#: names the docs give in ``ampsim.`` form that are not Python objects (an entry-point group)
_NOT_OBJECTS = {"ampsim.tasks"}


def test_ampsim_names_in_the_docs_resolve():
    """Every ``ampsim.module.attribute`` a doc names in backticks imports and has that attribute."""
    import importlib

    for doc in DOCS:
        for name in set(re.findall(r"`(ampsim(?:\.\w+)+)", doc.read_text())) - _NOT_OBJECTS:
            parts = name.split(".")
            for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:i]))
                    break
                except ImportError:
                    continue
            for attr in parts[i:]:
                assert hasattr(obj, attr), f"{doc.name} names {name}, which has no {attr}"
                obj = getattr(obj, attr)


def documented_keys() -> tuple[set[str], set[str]]:
    """Every experiment key (``train.mak``, any task's ``data.*`` and ``model.*``) and every hardware key
    (``chip.spin_s``) the code reads."""
    from ampsim.config import FIXED_SECTIONS, TASK_SCHEMAS

    experiment = {f"{s}.{n}" for s, cls in FIXED_SECTIONS.items() for n in cls.__dataclass_fields__}
    for schema in TASK_SCHEMAS.values():
        experiment |= {f"data.{n}" for n in schema.data.__dataclass_fields__}
        experiment |= {f"model.{n}" for n in schema.model.__dataclass_fields__}
    sizes = {f"topology.{p}" for required, optional in keys.TOPOLOGY_PARAMS.values() for p in required + optional}
    return experiment, set(keys.hardware_keys()) | sizes  # (a topology's size keys: topology.n, topology.shape)


def _has(module: str, name: str) -> bool:
    """Whether ``module`` exists and has ``name``."""
    import importlib

    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def test_a_topologys_size_keys_are_keys_a_doc_may_name():
    """``hardware.topology.n`` works with ``--set``: the check below refused it as unknown in a doc."""
    _, hardware = documented_keys()
    assert {"topology.n", "topology.shape", "topology.dim", "topology.kind"} <= hardware and "topology.size" not in hardware


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_config_keys_named_in_the_docs_exist(doc):
    """A key a doc names in backticks or after ``--set`` (``replicas.sync_every``, ``hardware.host.cores``,
    ``link.packet_bytes``) is one the code reads: a misspelt or renamed key in a doc is refused as unknown when
    a user sets it. A module's file or function named like a key (``placement.json``, ``placement.place``) is
    not one."""
    experiment, hardware = documented_keys()
    sections = sorted({k.split(".")[0] for k in experiment})
    hw_sections = sorted({k.split(".")[0] for k in hardware if "_" not in k.split(".")[0]})
    named = re.compile(rf"(?<![\w./\-#])(?:(?:hardware\.)?({'|'.join(hw_sections)})|({'|'.join(sections)}))"
                       r"\.([a-z]\w*)(?![\w/(\-])")
    text = doc.read_text()
    spans = re.findall(r"`([^`\n]+)`", text) + re.findall(r"--set\s+['\"]?([^\s'\"]+)", text)
    unknown = set()
    for span in spans:
        for m in named.finditer(span):
            hw, section, name = m.groups()
            if hw:
                if f"{hw}.{name}" not in hardware:
                    unknown.add(m.group(0))
            elif f"{section}.{name}" not in experiment and name not in ("py", "md", "json", "csv", "toml", "png") \
                    and not _has(f"ampsim.{section}", name):
                unknown.add(m.group(0))
    assert not unknown, f"{doc.name} names keys the code does not have: {sorted(unknown)} (see `ampsim keys`)"


def test_files_and_tests_named_in_the_docs_exist():
    """The experiment, hardware, test and benchmark files the docs name, and a ``file.py::test`` its test."""
    for doc in DOCS:
        text = doc.read_text()
        names = re.findall(r"`((?:experiments|hardware_models|tests|benchmarks|docs)/[\w/.\-]+)", text)
        for path in {p.rstrip(".") for p in names}:
            assert (ROOT / path).exists(), f"{doc.name} names {path}, which does not exist"
        for path, test in set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)", text)):
            assert re.search(rf"^def {test}\(", (ROOT / path).read_text(), re.M), f"{doc.name}: no {test} in {path}"


def test_the_sweeps_table_lists_every_sweep_file_and_its_figures():
    import fnmatch
    import tomllib

    folder = ROOT / "experiments" / "sweeps"
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in (folder / "README.md").read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| file")]
    listed = {name: row for row in rows for name in row[0].split(", ")}
    for f in sorted(folder.glob("*.toml")):
        assert f.stem in listed, f"experiments/sweeps/README.md: add a row for {f.name}"
        row = listed[f.stem]
        assert len(row) == 3, f"experiments/sweeps/README.md: the row of {f.stem} has {len(row)} cells, not 3"
        patterns = row[2].split(", ")
        for fig in tomllib.loads(f.read_text()).get("figure", []):
            assert any(fnmatch.fnmatch(fig["name"], p) for p in patterns), \
                f"experiments/sweeps/README.md: the row of {f.stem} does not name its figure {fig['name']}"


def test_keys_update_leaves_a_gzip_or_read_only_file_as_it_was(tmp_path, capsys, monkeypatch):
    """It wrote plain text over a .gz (read_text reads gzip too) and replaced a read-only file through a rename."""
    import gzip
    import os

    gz = tmp_path / "README.md.gz"
    gz.write_bytes(gzip.compress(f"{keys.BEGIN}\nold\n{keys.END}\n".encode()))
    before = gz.read_bytes()
    assert main(["keys", "--update", str(gz)]) == 2 and gz.read_bytes() == before
    assert "is gzip-compressed; --update rewrites plain text files only" in capsys.readouterr().err
    ro = tmp_path / "ro.md"
    ro.write_text(f"{keys.BEGIN}\nold\n{keys.END}\n")
    monkeypatch.setattr(os, "access", lambda path, mode: not (mode == os.W_OK and str(path) == str(ro)))  # (root)
    assert main(["keys", "--update", str(ro)]) == 2 and ro.read_text() == f"{keys.BEGIN}\nold\n{keys.END}\n"
    assert "ro.md: is read-only" in capsys.readouterr().err


def test_keys_update_keeps_the_files_line_endings(tmp_path, capsys):
    """A CRLF README came back mixing CRLF (around the block) and LF (the block and the line after BEGIN)."""
    crlf = tmp_path / "README.md"
    crlf.write_bytes(f"intro\r\n{keys.BEGIN}\r\nold\r\n{keys.END}\r\nrest\r\n".encode())
    assert main(["keys", "--update", str(crlf)]) == 0
    want = f"intro\n{keys.BEGIN}\n{keys.render()}{keys.END}\nrest\n".replace("\n", "\r\n")
    assert crlf.read_bytes().decode() == want
    capsys.readouterr()
    assert main(["keys", "--update", str(crlf)]) == 0 and crlf.read_bytes().decode() == want  # a fixed point
    assert "already up to date" in capsys.readouterr().out
    assert keys.replace_block(f"{keys.BEGIN}\nold\n{keys.END}\n", "a\nb\n") == f"{keys.BEGIN}\na\nb\n{keys.END}\n"


def bench_row(name: str, case: str) -> dict[str, str]:
    """Row ``case`` of the committed ``results/bench/<name>.csv``."""
    import csv

    with (ROOT / "results" / "bench" / f"{name}.csv").open(newline="") as f:
        return next(row for row in csv.DictReader(f) if row["case"] == case)


def test_the_replay_figures_in_prose_are_replay_csvs():
    """The prose kept an earlier bench_replay run's figures (the next epoch's recording in 0.19 s against 22.1 s;
    the size rows' loop at 0.102 and 0.099 µs) after the benchmark table and the committed CSV moved on."""
    text = " ".join(README.read_text().split())
    composed = bench_row("replay", "sst_epoch2_composed")
    want = (round(float(composed["replay_wall_s"]), 2), round(float(composed["record_wall_s"]), 1))
    quoted = re.findall(r"next epoch's recording in ([\d.]+) s against ([\d.]+) s", text)
    quoted += re.findall(r"made of the first epoch's instances \| \*\*([\d.]+) s\*\* against ([\d.]+) s", text)
    assert len(quoted) == 2, quoted
    assert all((float(a), float(b)) == want for a, b in quoted), (quoted, want)
    small, big = (bench_row("replay", f"chain512_switch{n}_4busy_replay") for n in (4, 1024))
    loop = [float(r["loop_us_per_message"]) for r in (small, big)]
    prose = re.findall(r"of a 1,024-chip switch at ([\d.]+) and ([\d.]+) µs a message", text)
    table = re.findall(r"the loop ([\d.]+) against ([\d.]+) µs per message", text)  # 1,024 chips first
    assert len(prose) == 1 and len(table) == 1, (prose, table)
    assert [float(v) for v in prose[0]] == loop and [float(v) for v in table[0]] == loop[::-1], (prose, table, loop)


MESH3X3_300KB = """[system]
name = "mesh3x3"
source = "tests: nine chips of 300 kB, so that some 256-wide layers fit on no chip"
[chip]
flops_per_s = 4.7e14
mem_bandwidth_bytes_per_s = 1.25e15
overhead_s = 1.0e-7
memory_bytes = 3e5
[link]
latency_s = 2.3e-7
bandwidth_bytes_per_s = 1.9e12
[topology]
kind = "mesh2d"
shape = [3, 3]
"""


def test_the_placement_error_quoted_is_the_one_the_setting_it_names_gives(tmp_path, capsys):
    """It quoted node fc1 where the case it stood for (ten 256x256 layers on nine chips of 300 kB) names fc10."""
    how = " ".join(section(README.read_text(), "How it works").split())
    m = re.search(r"the blobs MLP with eleven 256-wide layers on a 3×3 mesh of 300 kB chips: `ampsim: error: …: "
                  r"(placement\.strategy: greedy [^`…]*) …`", how)
    assert m, "README.md: the placement error's example, and the setting that gives it, are gone"
    mesh = tmp_path / "mesh3x3.toml"
    mesh.write_text(MESH3X3_300KB)
    argv = ["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--hardware", str(mesh), "--no-progress",
            "--out", str(tmp_path / "run"), "--set", 'placement.strategy="greedy"',
            "--set", "model.hidden=[" + ",".join(["256"] * 11) + "]"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert m.group(1) in err, (m.group(1), err)


def test_a_sweeps_point_count_quoted_beside_its_file_is_its_committed_tables():
    """'`whatif_sst_hypercube.toml`, 224 points': each such count is the rows of the sweep's committed table."""
    import csv

    quoted = []
    for doc in DOCS:
        for name, n in re.findall(r"`(?:experiments/sweeps/)?(\w+)\.toml`\W{0,3}(\d[\d,]*) (?:replayed )?points",
                                  doc.read_text()):
            with (ROOT / "results" / "sweeps" / name / "table.csv").open(newline="") as f:
                rows = sum(1 for _ in csv.DictReader(f))
            quoted.append((doc.name, name, int(n.replace(",", "")), rows))
    assert len(quoted) >= 6, quoted
    assert all(n == rows for _, _, n, rows in quoted), [q for q in quoted if q[2] != q[3]]


def test_the_python_api_table_gives_each_functions_signature():
    """It named train's first parameter path_or_config (train(path_or_config=...) is a TypeError: it is
    experiment), left out plan's system, placement and estimated, and sweep's ray_address."""
    import inspect

    import ampsim

    api = section(README.read_text(), "Python API")
    rows = re.findall(r"^\| `ampsim\.(\w+)\((.*?)\)`", api, re.M)
    assert {name for name, _ in rows} >= {"train", "load_experiment", "plan", "make_executor", "sweep"}, rows
    for name, params in rows:
        sig = inspect.signature(getattr(ampsim, name))
        written = str(sig.replace(return_annotation=inspect.Signature.empty, parameters=[
            p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]))
        assert f"({params})" == written, f"README.md's Python API table: ampsim.{name}({params}), the code {written}"


def test_the_run_folder_paragraph_names_every_file_a_run_writes():
    """The README's list of what a run writes left out staleness.json (every run's) and placement.json (the
    simulated and multicore executors'), two files a new user found in the folder and nowhere in "One run"."""
    from ampsim import runfiles

    text = README.read_text()
    one_run = text[text.index("\n### One run\n"):text.index("\n### Guarantees\n")]
    missing = [name for name in runfiles.RUN_OUTPUTS if f"`{name}`" not in one_run]
    assert not missing, f"README.md's One run section does not name {missing}"


def test_every_summary_field_is_defined_in_docs_summary(monkeypatch):
    """The README says every field of a run's summary.json is defined in docs/summary.md; eleven of the multicore
    executor's were defined nowhere. A small run of each executor, and a replay, names no field the page does not."""
    import ampsim

    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")  # (the replay's recording: in memory, not the user's cache)
    text = (ROOT / "docs" / "summary.md").read_text()
    small = {"train.epochs": 1, "data.n_train": 64, "data.n_test": 16}
    sim = {"executor.kind": "sim", "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml")}
    runs = {"reference": {}, "sim": sim, "replay": {**sim, "executor.numerics": False},
            "multicore": {"executor.kind": "multicore", "executor.workers": 2}}
    for name, sets in runs.items():
        summary = ampsim.train(ROOT / "experiments" / "blobs_mlp.toml", overrides={**small, **sets}).summary
        missing = [k for k in summary if f"`{k}`" not in text]
        assert not missing, f"docs/summary.md does not define the {name} run's {missing}"


def test_docs_summary_names_every_table_column():
    """docs/summary.md's table.csv section says what each column of a sweep's table is: every metric column the
    table writes after the swept keys (``tables.METRIC_COLUMNS``) and the columns of a point that stopped."""
    from ampsim.errors import OUTCOME_FIELDS
    from ampsim.tables import METRIC_COLUMNS

    text = (ROOT / "docs" / "summary.md").read_text()
    table = text[text.index("\n## table.csv\n"):]
    missing = [c for c in (*METRIC_COLUMNS, *OUTCOME_FIELDS) if f"`{c}`" not in table]
    assert not missing, f"docs/summary.md's table.csv section does not name {missing}"


def test_docs_replay_quotes_the_committed_bench_rows():
    """docs/replay.md quoted figures of bench runs the committed CSVs no longer hold, as if they did: the next
    epoch composed in 0.21 s against 24.4 s to record (the row: 0.218 and 19.486), the SST row's first replay
    0.56 s (its note: 0.665), routes found in 0.22 s on the 32×32 torus (``routes_cold_s``: 0.19), and the hold
    model's times 'in results/bench/event_queue.csv' from an earlier run. Each quote names the row it reads."""
    import csv

    text = " ".join((ROOT / "docs" / "replay.md").read_text().split())
    composed = bench_row("replay", "sst_epoch2_composed")
    m = re.search(r"row `sst_epoch2_composed`, [^`]*?: 2,000 trees, ([\d.]+) s against ([\d.]+) s to record", text)
    assert m and (float(m[1]), float(m[2])) == (round(float(composed["replay_wall_s"]), 2),
                                                round(float(composed["record_wall_s"]), 1)), m and m.groups()
    first = re.search(r"first replay ([\d.]+) s", bench_row("replay", "sst_300_torus8x8_mak16")["note"])
    m = re.search(r"\(the SST row's note: ([\d.]+) s,", text)
    assert m and m[1] == first[1], (m and m[1], first[1])
    cold = float(bench_row("replay", "chain512_torus_32x32_replay")["routes_cold_s"])
    m = re.search(r"finding them costs ([\d.]+) s once on a 1,024-chip torus \(`routes_cold_s`\)", text)
    assert m and float(m[1]) == round(cold, 2), (m and m[1], cold)
    with (ROOT / "results" / "bench" / "event_queue.csv").open(newline="") as f:
        hold = {r["case"]: r for r in csv.DictReader(f) if r["case"].startswith("hold_")}
    for column, pattern in (("kernel_heap_ns_per_event", r"the committed run's heap: ([\d.]+), ([\d.]+), ([\d.]+) and "
                             r"([\d.]+) ns"),
                            ("kernel_queue_ns_per_event", r"the committed run's queue: ([\d.]+), ([\d.]+), ([\d.]+) "
                             r"and ([\d.]+) ns"),
                            ("heap_ns_per_event", r"SimPy's Python heap, for comparison, in the committed run: "
                             r"([\d.]+) ns per event with 4 waiting, ([\d.]+) with 128, ([\d.]+) with 1,024 and "
                             r"([\d.]+) with 4,096")):
        m = re.search(pattern, text)
        want = [float(hold[f"hold_{n}"][column]) for n in (4, 128, 1024, 4096)]
        assert m and [float(v) for v in m.groups()] == want, (column, m and m.groups(), want)


def _signed(cell: str) -> list[float]:
    """The signed numbers of a table cell (``+6.6, **+18.0**, −1.7``; the minus sign typeset as U+2212)."""
    return [float(v.replace("\u2212", "-")) for v in re.findall(r"[+\u2212-]\d+(?:\.\d+)?", cell)]


def test_docs_calibration_quotes_the_committed_compare_and_multicore_rows():
    """docs/calibration.md's committed compare cycle is the committed compare.csv files' errors (one decimal, the
    within-±10 % count), and its multicore speed table the committed results/bench/multicore.csv's rows."""
    import csv

    text = (ROOT / "docs" / "calibration.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| new host, committed"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    errors = []
    for exp, cell in zip(("mnist_mlp", "list_reduction", "sst_treelstm"), cells[1:4]):
        with (ROOT / "results" / "compare" / exp / "compare.csv").open(newline="") as f:
            want = [round(float(r["throughput_error_pct"]), 1) for r in csv.DictReader(f)]
        assert _signed(cell) == want, (exp, cell, want)
        errors += want
    assert cells[4] == f"{sum(abs(e) <= 10 for e in errors)} of {len(errors)}", cells[4]
    with (ROOT / "results" / "bench" / "multicore.csv").open(newline="") as f:
        bench = {(r["workload"], r["system"]): float(r["best_instances_per_s"]) for r in csv.DictReader(f)}
    quoted = {
        ("mnist_mlp", "reference"): r"\| mnist_mlp, 600 batches \| (\d+) inst/s",
        ("mnist_mlp", "multicore 2w fc0|rest mak=16"): r"\| mnist_mlp, 600 batches \|[^|]*\| (\d+) inst/s",
        ("mnist_mlp", "multicore 2w fc0|rest mak=16 spin"): r"\(fc0 \\\| rest, mak 16\); (\d+) with spinning",
        ("sst_treelstm", "reference"): r"\| sst_treelstm, 300 trees \| (\d+) trees/s",
        ("sst_treelstm", "multicore 2w best split mak=16"): r"\| (\d+) trees/s \(best split, mak 16\)",
        ("sst_treelstm", "multicore 2w best split mak=16 spin"): r"\(best split, mak 16\); (\d+) with spinning",
        ("sst_treelstm", "pytorch eager (1 thread)"): r"\| \d+ vs (\d+) trees/s \|",
    }
    for key, pattern in quoted.items():
        m = re.search(pattern, text)
        assert m and int(m[1]) == round(bench[key]), (key, m and m[1], bench[key])


def test_docs_replay_loop_table_and_replicas_ratios_are_the_replay_csv():
    """docs/replay.md's table of which loop replays a run gives wall µs per message from the committed
    results/bench/replay.csv (the SST rows, their notes' Python-loop and SimPy times over the messages), and
    docs/replicas.md's ratios between the loops come from the same rows: a re-run of bench_replay must carry them."""
    text = " ".join((ROOT / "docs" / "replay.md").read_text().split())
    whole, packets = bench_row("replay", "sst_300_torus8x8_mak16"), bench_row("replay", "sst_300_torus8x8_mak16_packets256")
    sync = bench_row("replay", "sst_300_torus8x8_4groups_sync_replay")

    def noted(row: dict, what: str) -> float:  # seconds the row's note gives for the Python loop or SimPy
        return float(re.search(rf"{what} ([\d.]+) s", row["note"])[1])

    us = {"compiled": (float(whole["wall_us_per_message"]), float(packets["wall_us_per_message"])),
          "python": tuple(noted(r, "the Python loop") / int(r["messages"]) * 1e6 for r in (whole, packets)),
          "sync": float(sync["wall_us_per_message"]),
          "simpy": (noted(packets, "SimPy replay") / int(packets["messages"]) * 1e6,
                    float(sync["simpy_replay_wall_s"]) / int(sync["messages"]) * 1e6)}
    m = re.search(r"\| the compiled loop \(`jitkernel.py`, numba\) \| ([\d.]+) whole messages, ([\d.]+) packets \|", text)
    assert m and (float(m[1]), float(m[2])) == tuple(round(v, 2) for v in us["compiled"]), (m and m.groups(), us)
    m = re.search(r"\| the Python loop \| ([\d.]+) whole messages, ([\d.]+) packets \|", text)
    assert m and (float(m[1]), float(m[2])) == tuple(round(v, 1) for v in us["python"]), (m and m.groups(), us)
    m = re.search(r"\| ([\d.]+) with 4 groups on packets", text)
    assert m and float(m[1]) == round(us["sync"], 1), (m and m[1], us)
    m = re.search(r"\| (\d+) packets \((\d+) with the 4 groups\) \|", text)
    assert m and (int(m[1]), int(m[2])) == tuple(round(v) for v in us["simpy"]), (m and m.groups(), us)
    m = re.search(r"the replay takes ([\d.]+) s against the same replay's ([\d.]+) s on SimPy and the full run's "
                  r"([\d.]+) s", text)
    want = tuple(round(float(sync[c]), 2) for c in ("replay_wall_s", "simpy_replay_wall_s", "full_wall_s"))
    assert m and tuple(float(v) for v in m.groups()) == want, (m and m.groups(), want)
    replicas = " ".join((ROOT / "docs" / "replicas.md").read_text().split())
    m = re.search(r"([\d.]+)× faster than on SimPy, where they ran before", replicas)
    assert m and float(m[1]) == round(float(sync["simpy_replay_wall_s"]) / float(sync["replay_wall_s"]), 1), m
    m = re.search(r"the compiled loop is (\d+)–(\d+)× faster again per message", replicas)
    assert m and (int(m[1]), int(m[2])) == (int(us["sync"] / us["compiled"][1]), int(us["sync"] / us["compiled"][0])), \
        (m and m.groups(), us)
