# nodeswap: every target that runs code calls `setup` first, so a fresh machine needs nothing else.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# every target ignores the operator's config files (/etc/nodeswap, ~/.config/nodeswap)
export NODESWAP_CONFIG := none

.PHONY: setup render-setup test test-fast test-slow test-crash fuzz fuzz-ci lint typecheck demo bench clean \
	wheelhouse
# Two workers, a lab each (tests/lab/conftest.py); a test file stays on one worker (its labs).
XDIST := -n 2 --dist loadfile

setup:
	@bash scripts/setup.sh

# What only the report's rendering test needs (test-slow): Debian's chromium, poppler-utils and
# a CJK font. Never part of `setup`: `make demo` and `make test` do not pull Chromium.
render-setup:
	@bash scripts/render-setup.sh

# Every test but the slow ones and the fuzz targets: unit, CLI and lab tests (goal: 5 minutes).
test: setup
	$(PY) -m pytest -q $(XDIST) -m "not slow"

# What needs no lab and no root: unit and CLI tests (goal: 30 s with the set-up).
test-fast: setup
	$(PY) -m pytest -q -n 2 -m "not slow and not lab" tests/unit tests/test_*.py

# The long lab tests (every other topology, the fault matrix, the report rendered by headless
# Chromium): .ci/run runs them after make test.
test-slow: setup render-setup
	$(PY) -m pytest -q $(XDIST) -m slow

# SIGKILL inside every side-effect step of the real upgrade and at sampled step boundaries, then
# plain resumes to the verified end state (tests/lab/test_crash_matrix.py, marker `crash`,
# deselected from the runs above): .ci/run runs it after make test (about 2 min here; at most 40).
test-crash: setup
	$(PY) -m pytest -q $(XDIST) -m crash

# Fuzz targets (tests/fuzz, marker `fuzz`, deselected from the runs above): settings files,
# haproxy.cfg, specs, hosts files, plan files. `fuzz`: 10^5 examples per target (long);
# `fuzz-ci`: a few hundred per target, under a minute (.ci/run).
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz-full $(PY) -m pytest -q -n 2 -m fuzz tests/fuzz

fuzz-ci: setup
	HYPOTHESIS_PROFILE=fuzz-ci $(PY) -m pytest -q -m fuzz tests/fuzz

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

typecheck: setup
	$(VENV)/bin/mypy

demo: setup
	$(VENV)/bin/nodeswap demo

# dist/wheelhouse/: nodeswap and its runtime dependencies as wheels for CPython 3.10-3.12 and
# this machine's python3 on manylinux2014 x86_64, with a hashed requirements.txt, for a jump
# host with no internet (README, "Install on a jump host"). Needs PyPI here.
wheelhouse: setup
	$(PY) scripts/wheelhouse.py --out dist/wheelhouse

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: golden
golden: setup  # rewrite tests/golden/*.plan.json from the current code; review the diff
	NODESWAP_UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/test_golden_plans.py
