# Two commands for a fresh clone: `make run` starts the whole platform on the
# embedded default, `make test` runs the test suite. Both create .venv first.
# `make run` prints a coordinator's bearer token; with DATA_DIR (e.g. `make run DATA_DIR=data`,
# which git ignores) the database, signing key and secrets are kept between runs, and
# `make token PERSON=ops DATA_DIR=data` prints a token for another person of the network.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?=
PERSON ?= coord

.PHONY: run test install promtool chromium bench lint token
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/thuisbest up $(if $(DATA_DIR),--data-dir $(DATA_DIR))

token: install
	@test -n "$(DATA_DIR)" || { echo "make token: give DATA_DIR, the data dir of make run" >&2; exit 2; }
	@$(BIN)/thuisbest token $(PERSON) --data-dir $(DATA_DIR)

# $(call apt_install,COMMAND,PACKAGE,ELSE): install Debian's or Ubuntu's PACKAGE when COMMAND is not on
# PATH, as root or with sudo when there is one; ELSE says what to do where that cannot be done.
define apt_install
@command -v $(1) >/dev/null || { \
  if [ "$$(id -u)" = 0 ]; then sudo=; \
  elif command -v sudo >/dev/null; then sudo=sudo; \
  else echo "make: $(1) is missing and installing it needs root (or sudo): apt-get install $(2), or $(3)" >&2; \
    exit 1; fi; \
  command -v apt-get >/dev/null || { echo "make: $(1) is missing and there is no apt-get: $(3)" >&2; exit 1; }; \
  $$sudo apt-get update && \
  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(2); }
endef

# promtool checks and unit-tests the alert rules (tests/unit/test_alert_rules.py): the package
# `prometheus` ships it.
promtool:
	$(call apt_install,promtool,prometheus,put Prometheus's promtool on PATH (e.g. brew install prometheus))

# chromium runs the board's browser tests (tests/browser/, Playwright with axe-core); Playwright's
# own browser download is never used.
chromium:
	$(call apt_install,chromium,chromium,put a chromium (or a link named chromium to Chrome) on PATH)

test: install promtool chromium
	$(BIN)/python -m pytest

bench: install
	$(BIN)/thuisbest bench --out bench.md

lint: install
	$(BIN)/ruff check services shared tools tests
	$(BIN)/ruff format --check services shared tools tests
	$(BIN)/mypy --strict services shared tools
