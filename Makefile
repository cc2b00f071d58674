# The quickstart is two commands: `make demo` and `make test`. Both create .venv and install
# what they need. quickfix builds from source once per machine (about 6 minutes); pip caches
# the wheel afterwards.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test bench lint venv clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

# Stamps re-run the install whenever pyproject.toml changes.
$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# The tests train and export a small policy, so they need the training extra too (torch is the
# CPU build on this machine's disk; see pyproject.toml).
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,train]'
	touch $@ $(VENV)/.installed-runtime

venv: $(VENV)/.installed-dev

demo: $(VENV)/.installed-runtime
	$(BIN)/execagent demo

test: $(VENV)/.installed-dev
	scripts/ensure-redis.sh
	scripts/ensure-promtool.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Runs every benchmark, then fails if any missed its goal.
bench: $(VENV)/.installed-dev
	@failed=""; for script in bench/bench_*.py; do echo "== $$script"; \
		$(BIN)/python $$script || failed="$$failed $$script"; done; \
		if [ -n "$$failed" ]; then echo "missed goals:$$failed"; exit 1; fi

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check service gateways models risk sim tests bench
	$(BIN)/mypy service gateways models risk sim

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
