# Two commands do everything on a fresh machine: `make demo` (the offline K2 showcase) and `make test`.
# Both first run `setup`, which installs system packages (Debian's chromium for browser tests) and a
# virtual environment pinned by requirements.lock. Re-running skips what is already there.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean
setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock .ci/setup-system.sh
	bash .ci/setup-system.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/litgrade demo

test: setup
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check flows tests bench
	$(VENV)/bin/mypy

bench: setup
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf .data test-artifacts build *.egg-info  # the last two: left by a non-editable `pip install .`
