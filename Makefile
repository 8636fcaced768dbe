# coopgrid — `make run` and `make test` set everything up from scratch (.venv with python3.12).
SHELL := /bin/bash
VENV  := .venv
# python3.12 on PATH, or a pyenv-installed 3.12 when the pyenv shim points elsewhere
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	if $$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then echo $$p; break; fi; done)
BIN   := $(VENV)/bin
OUT   ?= results

.PHONY: bytecode run app test-browser chromium study-campus study-ieee33 study-rural study-lowcarbon study-incentives test lint typecheck imports pytest test-slow test-fuzz bench clean

$(BIN)/.installed: pyproject.toml
	@if [ -z "$(PYTHON312)" ]; then echo "error: python3.12 not found (install Python 3.12)"; exit 1; fi
	$(PYTHON312) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	@# bytecode of the installed packages on both cores (pip compiles one file at a time); it must exist, since with
	@# PYTHONDONTWRITEBYTECODE set every process (xdist and Dask workers) would otherwise compile what it imports
	-@$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib >/dev/null 2>&1
	@touch $@

# bytecode of our modules written once, not compiled again at every launch (PYTHONDONTWRITEBYTECODE may be set)
SOURCES := agents market sim scenarios studies app run_sim.py
bytecode: $(BIN)/.installed
	@$(BIN)/python -m compileall -q $(SOURCES)

# the embedded default simulation: ieee33, 2 days, cooperative, seed 0 (python run_sim.py with no arguments)
run: bytecode
	$(BIN)/python run_sim.py simulate --scenario ieee33 --days 2 --mode cooperative --seed 0 --out $(OUT)

# the dashboard (issue 18): SolaraViz on http://127.0.0.1:8765, run folders browsable below $(OUT)
HOST ?= 127.0.0.1
PORT ?= 8765
app: bytecode
	@mkdir -p $(OUT)
	$(BIN)/python run_sim.py app --host $(HOST) --port $(PORT) --runs $(OUT)

# Debian's chromium for the browser test (Playwright cannot download its own browsers here)
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# the dashboard in a real headless chromium: step, play a day, open a finished run; screenshots in $(OUT)/browser
$(BIN)/.installed-browser: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,browser]'
	@touch $@

test-browser: bytecode chromium $(BIN)/.installed-browser
	BROWSER_SHOTS=$(OUT)/browser $(BIN)/pytest -m browser -p no:xdist tests/browser

study-campus: bytecode
	$(BIN)/python run_sim.py study campus --out $(OUT)/campus

study-ieee33: bytecode
	$(BIN)/python run_sim.py study ieee33 --out $(OUT)/ieee33

study-rural: bytecode
	$(BIN)/python run_sim.py study rural --out $(OUT)/rural

study-lowcarbon: bytecode
	$(BIN)/python run_sim.py study lowcarbon --out $(OUT)/lowcarbon

# the behaviour study of issue 16 on ieee33 (14 days: about 3 minutes on 2 cores)
study-incentives: bytecode
	$(BIN)/python run_sim.py study incentives --scenario ieee33 --days 14 --out $(OUT)/incentives

lint: $(BIN)/.installed
	$(BIN)/ruff check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

# the layer contracts of DESIGN v2 (.importlinter): imports only go downward, no cycles
imports: $(BIN)/.installed
	$(BIN)/lint-imports

# two xdist workers, a test file per worker (its module fixtures run once); one HiGHS thread each (tests/conftest.py)
PYTEST_WORKERS ?= 2
pytest: bytecode
	$(BIN)/pytest -m "not slow and not fuzz and not browser" --ignore=tests/browser -n $(PYTEST_WORKERS) --dist loadfile --durations=15

test: lint typecheck imports pytest

test-slow: $(BIN)/.installed
	$(BIN)/pytest -m slow -n $(PYTEST_WORKERS) --dist loadfile

# the scenario fuzzer at full size (500 mutated files per system, a one-day solve of 10 per system); CI runs it
test-fuzz: $(BIN)/.installed
	$(BIN)/pytest -m fuzz -n $(PYTEST_WORKERS) --durations=10 tests/scenarios/test_scenario_fuzz.py

bench: bytecode
	$(BIN)/python benchmarks/campus_dro.py --out benchmarks/results
	$(BIN)/python benchmarks/ieee33_day.py --out benchmarks/results
	$(BIN)/python benchmarks/feeder_scale.py --out benchmarks/results  # issue 17: ~14 min
	$(BIN)/python benchmarks/dashboard_step.py --out benchmarks/results  # issue 18: ~1 min

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
