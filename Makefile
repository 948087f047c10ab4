# nodeswap: every target that runs code calls `setup` first, so a fresh machine needs nothing else.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup test test-fast lint typecheck demo bench clean

setup:
	@bash scripts/setup.sh

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q tests/unit

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
