# The two commands the README gives: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv lock lint typecheck workflows unit integration e2e test demo bench mutation clean

help:
	@echo "make demo   run the whole flow locally on the sandbox (no account, no network)"
	@echo "make test   venv, install, lint gates, unit, integration and act e2e tests"

# Install from PyPI into .venv only, pinned by constraints.txt; uv when it installs, else pip.
# The server extra too: the serve tests run a real uvicorn.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
	  { echo "make: $(PYTHON) is older than Python 3.10; install 3.10+ or run make PYTHON=python3.12 ..."; exit 1; }
	@# A venv made without ensurepip (Debian's python3-venv missing) has no pip: make it again.
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV) || \
	  { rm -rf $(VENV); echo "make: '$(PYTHON) -m venv' failed; install the venv module (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }; }
	if $(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt uv 2>/dev/null; then \
	  $(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e '.[dev,server]'; \
	else \
	  $(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,server]'; \
	fi
	touch $(STAMP)

# checkov (the templates' Kubernetes checks, tests/integration/test_argocd_templates_checkov.py) in a
# venv of its own: it pins packaging<24 and networkx<2.7, which the dev tools above outgrew.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
$(CHECKOV_STAMP): constraints-checkov.txt $(STAMP)
	rm -rf $(CHECKOV_VENV)
	if [ -x $(BIN)/uv ]; then \
	  $(BIN)/uv venv -q --python $(BIN)/python $(CHECKOV_VENV) && \
	  $(BIN)/uv pip install -q --python $(CHECKOV_VENV)/bin/python -r constraints-checkov.txt; \
	else \
	  $(BIN)/python -m venv $(CHECKOV_VENV) && \
	  $(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r constraints-checkov.txt; \
	fi
	touch $(CHECKOV_STAMP)

venv: $(STAMP) $(CHECKOV_STAMP)

# The hashed locks the actions and the image install from (scripts/lock.py says which is which).
# Needs PyPI; commit requirements/ afterwards. `make lint` fails while they are stale.
lock: venv
	$(BIN)/python scripts/lock.py

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python scripts/lock.py --check
	bash scripts/lint-workflows.sh

# Two workers: most tests wait on servers, git and act, so two processes halve the wall time on
# 2 cores (measured: 8 min 17 s -> about 5 min).
test: lint
	$(BIN)/python -m pytest -q -n 2 --durations=10 tests

e2e: venv
	$(BIN)/python -m pytest -q -m e2e tests/e2e

demo: venv
	$(BIN)/python -m gitops_release.sandbox.demo

bench: venv
	$(BIN)/python benchmarks/run_all.py

# Mutation testing of core/, each module against its own unit tests (docs/testing.md); not part
# of `make test`. MODULES=db runs one module; MUTATION_JOBS bounds mutmut's parallel workers.
MUTATION_JOBS ?= 2
MUTATION_FAIL_UNDER ?= 95
mutation: venv
	nice -n 10 $(BIN)/python scripts/mutation.py --jobs $(MUTATION_JOBS) \
	  --fail-under $(MUTATION_FAIL_UNDER) $(MODULES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist mutants
