# Two commands for a fresh clone: `make run` starts the whole platform on the
# embedded default, `make test` runs the test suite. Both create .venv first.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install bench lint
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/thuisbest up

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/thuisbest bench --out bench.md

lint: install
	$(BIN)/ruff check services shared tools tests
	$(BIN)/ruff format --check services shared tools tests
	$(BIN)/mypy --strict services shared tools
