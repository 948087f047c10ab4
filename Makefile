# nodeswap: every target that runs code calls `setup` first, so a fresh machine needs nothing else.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup test test-fast fuzz fuzz-ci lint typecheck demo bench clean

setup:
	@bash scripts/setup.sh

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q tests/unit

# Fuzz targets (tests/fuzz, marker `fuzz`, deselected from the runs above): settings files,
# haproxy.cfg, specs, hosts files, plan files. `fuzz`: 10^5 examples per target (long);
# `fuzz-ci`: a few hundred per target, under a minute (.ci/run).
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz-full $(PY) -m pytest -q -m fuzz tests/fuzz

fuzz-ci: setup
	HYPOTHESIS_PROFILE=fuzz-ci $(PY) -m pytest -q -m fuzz tests/fuzz

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

typecheck: setup
	$(VENV)/bin/mypy

demo: setup
	$(VENV)/bin/nodeswap demo

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: golden
golden: setup  # rewrite tests/golden/*.plan.json from the current code; review the diff
	NODESWAP_UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/test_golden_plans.py
