# ampsim: the Makefile is the results graph. `make help` lists the targets.
# Every target creates and uses a local virtual environment (.venv), so a fresh machine with
# Python >= 3.11 and make is enough.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
AMPSIM := $(VENV)/bin/ampsim
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv lint test test-fast demo bench paper paper-quick sweeps-check compare rescore clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(STAMP) ## create .venv and install ampsim with its dev tools

lint: $(STAMP) ## ruff (pyproject.toml [tool.ruff]): style, imports, likely bugs, no print outside the CLIs
	$(PY) -m ruff check ampsim benchmarks tests

# lint first: it takes a second and fails fast; the suite includes the benchmarks' quick smoke run
test: lint ## lint, then the whole test suite (real-data tests need AMPSIM_DATA)
	$(PY) -m pytest

test-fast: $(STAMP) ## unit tests only
	$(PY) -m pytest tests/unit

demo: $(STAMP) ## a small run with no network or downloaded data; writes a figure under results/demo/
	$(AMPSIM) demo --out results/demo

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $@

# the full benchmarks (minutes; quiet machine); `$(PY) -m benchmarks.run_all --quick --out DIR` is the minute-long
# smoke variant that tests/test_benchmarks_smoke.py runs
bench: $(BENCH_STAMP) ## benchmarks (with PyTorch for the SST comparison), written to results/bench/*.csv
	$(PY) -m benchmarks.run_all

# --- sweeps and figures -----------------------------------------------------------------------------
# Each experiments/sweeps/<name>.toml is run into results/sweeps/<name>/ (table.csv is its completion
# marker) and its [[figure]]s are drawn into results/figures/ (PNG + PDF). A table depends on its sweep
# file, the experiment and hardware files and the simulation code; figures on their table and the
# plotting code, so make re-runs only what changed. Sweeps resume: an interrupted `make paper` keeps
# every finished point. When only TOML files changed, unchanged points are reused (a point's id hashes
# its resolved config); when code changed, the sweep starts afresh. The quick variants ([quick] tables)
# go to results/quick/. Sweeps on MNIST/SST need AMPSIM_DATA (the data folder).
SWEEP_FILES := $(sort $(wildcard experiments/sweeps/*.toml))
SWEEP_NAMES := $(notdir $(SWEEP_FILES:.toml=))
PLOT_CODE   := $(wildcard ampsim/figures/*.py) ampsim/sweeps/figspec.py ampsim/sweeps/cli.py
SIM_CODE    := $(filter-out $(PLOT_CODE) ampsim/demo.py ampsim/cli.py ampsim/api.py ampsim/calibration/cli.py,$(shell find ampsim -name '*.py'))
SWEEP_DEPS  := $(SIM_CODE) $(wildcard experiments/*.toml) $(wildcard hardware_models/*.toml)
FIGS        := $(SWEEP_NAMES:%=results/figures/.%.done)
QUICK_FIGS  := $(SWEEP_NAMES:%=results/quick/figures/.%.done)
SWEEP_ARGS  ?= --no-progress
fresh_if_code_changed = $(if $(and $(wildcard $@),$(filter %.py,$?)),--fresh)

results/sweeps/%/table.csv: experiments/sweeps/%.toml $(SWEEP_DEPS) | $(STAMP)
	$(AMPSIM) sweep $< --out $(@D) $(SWEEP_ARGS) $(fresh_if_code_changed)

# Before drawing, the sweep is resumed (a second where every point is finished): it runs again only the points
# left unfinished, such as traced points whose trace.json (never committed: over 1 MB) a checkout lacks.
results/figures/.%.done: results/sweeps/%/table.csv experiments/sweeps/%.toml $(PLOT_CODE) | $(STAMP)
	$(AMPSIM) sweep experiments/sweeps/$*.toml --out results/sweeps/$* $(SWEEP_ARGS)
	$(AMPSIM) plot experiments/sweeps/$*.toml --sweep-dir results/sweeps/$* --out $(@D)
	touch $@

results/quick/sweeps/%/table.csv: experiments/sweeps/%.toml $(SWEEP_DEPS) | $(STAMP)
	$(AMPSIM) sweep $< --quick --out $(@D) $(SWEEP_ARGS) $(fresh_if_code_changed)

results/quick/figures/.%.done: results/quick/sweeps/%/table.csv experiments/sweeps/%.toml $(PLOT_CODE) | $(STAMP)
	$(AMPSIM) sweep experiments/sweeps/$*.toml --quick --out results/quick/sweeps/$* $(SWEEP_ARGS)
	$(AMPSIM) plot experiments/sweeps/$*.toml --quick --sweep-dir results/quick/sweeps/$* --out $(@D)
	touch $@

.PRECIOUS: results/sweeps/%/table.csv results/quick/sweeps/%/table.csv

COMPARE_EXPS := mnist_mlp list_reduction sst_treelstm
COMPARE_FIGS := $(COMPARE_EXPS:%=results/figures/compare_%.png)
# one worker, and two under the round-robin placement (the experiments' default) and the greedy one at mak 1, 4, 16
COMPARE_CONFIGS := workers=1,mak=1;workers=2,mak=1;workers=2,mak=4;workers=2,mak=16;$\
	workers=2,mak=1,placement=greedy;workers=2,mak=4,placement=greedy;workers=2,mak=16,placement=greedy
results/compare/%/compare.csv: experiments/%.toml hardware_models/local_cpu.toml | $(STAMP)
	$(AMPSIM) compare $< --repeat 3 --configs "$(COMPARE_CONFIGS)" --out $(@D)
results/figures/compare_%.png: results/compare/%/compare.csv
	@mkdir -p $(@D)
	cp results/compare/$*/compare.png $@
.PRECIOUS: results/compare/%/compare.csv

compare: $(COMPARE_FIGS) ## simulated vs measured (multicore, calibrated model) on three experiments; needs a quiet machine

rescore: | $(STAMP) ## the model as it is now against the stored compare measurements (RESCORE_SET="--set k=v ..."); minutes, any machine
	$(AMPSIM) compare $(COMPARE_EXPS:%=experiments/%.toml) --resimulate $(RESCORE_SET)

paper: $(FIGS) $(COMPARE_FIGS) ## every sweep in experiments/sweeps/ and every figure, into results/figures/ (long; needs AMPSIM_DATA)
	@! find results/figures -name '*.png' -size +300k | grep . || (echo "PNG over 300 KB" >&2; exit 1)
	@echo "figures in results/figures/:"; ls results/figures

paper-quick: $(QUICK_FIGS) ## the same sweeps, scaled down ([quick]), figures into results/quick/figures/ (minutes)
	@! find results/quick/figures -name '*.png' -size +300k | grep . || (echo "PNG over 300 KB" >&2; exit 1)
	@echo "figures in results/quick/figures/:"; ls results/quick/figures

sweeps-check: $(STAMP) ## validate every sweep file (and its quick variant) without running anything
	@for f in $(SWEEP_FILES); do $(AMPSIM) sweep $$f --check && $(AMPSIM) sweep $$f --quick --check || exit 1; done

clean: ## remove the virtual environment and caches (results are kept)
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
