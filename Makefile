# dcagent: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell for p in "$$DCAGENT_PYTHON" /root/.pyenv/versions/3.12.1/bin/python3 python3.12 python3.13; do \
	[ -n "$$p" ] && command -v "$$p" >/dev/null && "$$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null \
	&& { echo "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
LABENV := set -a && . lab/lab.env && set +a

.PHONY: install lab seed demo lint unit integration integration-parallel integration-serial test test-fast clean

$(BIN)/dcagent: pyproject.toml
	@test -n "$(PYTHON)" || { echo "need Python >= 3.12 (set DCAGENT_PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(BIN)/pip install -q -e '.[dev]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@touch $@

install: $(BIN)/dcagent

lab:
	lab/up

seed: install lab
	lab/seed

demo: install lab seed
	$(LABENV) && $(BIN)/dcagent doctor && $(BIN)/python lab/demo.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit --durations=8

# The lab tests in two phases: the independent ones concurrently (xdist workers; tests sharing a lab resource share
# an xdist_group), then the `serial` ones, which need the whole lab, alone. JOBS=1 runs everything one at a time.
JOBS ?= 4
LABTEST := $(LABENV) && $(BIN)/pytest tests/integration --durations=12

integration: install lab seed
	$(MAKE) --no-print-directory integration-parallel integration-serial

integration-parallel:
	$(LABTEST) -m "not serial" -n $(JOBS) --dist loadgroup

integration-serial:
	$(LABTEST) -m serial

# lint, unit, lab up, concurrent, serial: each phase timed, the table at the end (tests/phases.sh).
test: install
	MAKE="$(MAKE)" tests/phases.sh

# The edit-test loop (< 3 min on an up, seeded lab): unit tests, then the lab's smoke subset concurrently.
test-fast: install
	$(BIN)/pytest tests/unit -q
	$(LABENV) && $(BIN)/pytest tests/integration -m smoke -n $(JOBS) --dist loadgroup -q

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
