# dcagent: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell for p in "$$DCAGENT_PYTHON" /root/.pyenv/versions/3.12.1/bin/python3 python3.12 python3.13; do \
	[ -n "$$p" ] && command -v "$$p" >/dev/null && "$$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null \
	&& { echo "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
LABENV := set -a && . lab/lab.env && set +a

.PHONY: install lab seed demo lint unit integration test clean

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
	$(BIN)/pytest tests/unit

integration: install lab seed
	$(LABENV) && $(BIN)/pytest tests/integration

test: lint unit integration

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
