# ampsim: the Makefile is the results graph. `make help` lists the targets.
# Every target creates and uses a local virtual environment (.venv), so a fresh machine with
# Python >= 3.11 and make is enough.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
AMPSIM := $(VENV)/bin/ampsim
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv test test-fast demo bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(STAMP) ## create .venv and install ampsim with its dev tools

test: $(STAMP) ## run the whole test suite (real-data tests need AMPSIM_DATA)
	$(PY) -m pytest

test-fast: $(STAMP) ## unit tests only
	$(PY) -m pytest tests/unit

demo: $(STAMP) ## a small run with no network or downloaded data; writes a figure under results/demo/
	$(AMPSIM) demo --out results/demo

bench: $(STAMP) ## benchmarks, written to results/bench/*.csv
	$(PY) -m benchmarks.run_all

clean: ## remove the virtual environment and caches (results are kept)
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
