# The quickstart is two commands: `make demo` and `make test`. Both create .venv and install
# what they need. quickfix builds from source once per machine (about 6 minutes); pip caches
# the wheel afterwards.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test bench lint venv native clean wheelhouse image

# The container image (Dockerfile), built offline from a wheelhouse made here. BASE_IMAGE: the
# local Debian 12 + Python 3.11 base that scripts/ensure-docker.sh makes once (no registry
# needed); BASE_IMAGE=python:3.11-slim-bookworm builds on the official image instead.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= execagent:$(VERSION)
BASE_IMAGE ?= execagent-base:bookworm
WHEELHOUSE := wheelhouse
# What the project's wheel is built from: pyproject.toml's packages and the build's inputs.
PROJECT_SOURCES := $(shell $(PYTHON) scripts/wheelhouse.py sources)

# The modules mypyc compiles (setup.py): a change to one of them, or to the list, rebuilds them.
NATIVE_SOURCES := $(shell grep -v '^\#' native-modules.txt)

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

# Stamps re-run the install whenever pyproject.toml or setup.py changes.
$(VENV)/.installed-runtime: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch -c $(NATIVE_SOURCES:.py=.*.so)
	touch $@ $(VENV)/.native

# The tests train and export a small policy, so they need the training extra too (torch is the
# CPU build on this machine's disk; see pyproject.toml).
$(VENV)/.installed-dev: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,train]'
	touch -c $(NATIVE_SOURCES:.py=.*.so)
	touch $@ $(VENV)/.installed-runtime $(VENV)/.native

# Recompiles the native modules in place (the editable install's build, without reinstalling
# the dependencies). Without it an edited module would keep running its old compiled code;
# tests/conftest.py refuses to run in that state.
# The old extensions are removed first, not overwritten: a process still running them keeps its
# copy, and a failed build leaves the sources importable (tests/unit/test_native_modules.py
# then says what is not compiled). They are touched after: the build copies an extension it
# did not need to recompile with its old time, which tests/conftest.py would take for stale.
$(VENV)/.native: native-modules.txt $(NATIVE_SOURCES) | $(VENV)/.installed-runtime
	rm -f $(NATIVE_SOURCES:.py=.*.so) *__mypyc.*.so
	$(BIN)/pip install --quiet --no-deps -e .
	touch -c $(NATIVE_SOURCES:.py=.*.so)
	touch $@

venv: $(VENV)/.installed-dev $(VENV)/.native

native: $(VENV)/.native

demo: $(VENV)/.installed-runtime $(VENV)/.native
	$(BIN)/execagent demo

test: $(VENV)/.installed-dev $(VENV)/.native
	scripts/ensure-redis.sh
	scripts/ensure-promtool.sh
	scripts/ensure-docker.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Runs every benchmark, then fails if any missed its goal.
bench: $(VENV)/.installed-dev $(VENV)/.native
	@failed=""; for script in bench/bench_*.py; do name=bench.$$(basename $$script .py); \
		echo "== python -m $$name"; $(BIN)/python -m $$name || failed="$$failed $$name"; done; \
		if [ -n "$$failed" ]; then echo "missed goals:$$failed"; exit 1; fi

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check core service gateways models risk sim tests bench scripts
	$(BIN)/mypy core service gateways models risk sim scripts
	$(BIN)/lint-imports

# The dependencies' wheels are remade when pyproject.toml changes, pinned to the versions .venv
# has (quickfix then comes from pip's wheel cache); the project's wheel when its sources do.
$(WHEELHOUSE)/deps/requirements.txt: pyproject.toml scripts/wheelhouse.py | $(VENV)/.installed-runtime
	$(BIN)/python scripts/wheelhouse.py deps $(WHEELHOUSE)

$(WHEELHOUSE)/project/.built: $(PROJECT_SOURCES) scripts/wheelhouse.py | $(VENV)/.installed-runtime
	$(BIN)/python scripts/wheelhouse.py project $(WHEELHOUSE)
	touch $@

wheelhouse: $(WHEELHOUSE)/deps/requirements.txt $(WHEELHOUSE)/project/.built

image: wheelhouse
	BASE_IMAGE=$(BASE_IMAGE) scripts/ensure-docker.sh
	BASE_IMAGE=$(BASE_IMAGE) IMAGE=$(IMAGE) scripts/build-image.sh

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache build $(WHEELHOUSE)
	find service gateways models risk sim -name '*.so' -delete
	rm -f *__mypyc*.so
