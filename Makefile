# `make serve` runs the service on the embedded SQLite default; `make test` installs what is
# needed and runs ruff, mypy and pytest. Both create the virtualenv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install serve test lint typecheck pytest bench bench-http bench-visibility bench-scale bench-enumeration clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

serve: install
	$(BIN)/sessionjwt serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/lint-imports  # the architecture contracts in pyproject.toml (docs/architecture.md)

typecheck: install
	$(BIN)/mypy

# pytest-xdist: much of the suite waits on servers, subprocesses and sleeps, so a third worker
# on two cores fills that idle time. --dist loadfile keeps each module on one worker, so its
# module-scoped servers start once (not loadgroup: with pytest 9, xdist 3.8 cannot rename the
# node ids it groups by, and xdist_group marks are silently ignored).
# `make pytest PYTEST_WORKERS=0` runs the suite in this process, one test at a time.
PYTEST_WORKERS ?= 3

pytest: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=30

test: lint typecheck pytest

# Benchmarks print their figures and the ratio to a baseline measured in the same run.
bench: install
	$(BIN)/python benchmarks/check.py

bench-http: install
	@command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)
	$(BIN)/python benchmarks/http_throughput.py

bench-visibility: install
	$(BIN)/python benchmarks/visibility.py

bench-enumeration: install
	$(BIN)/python benchmarks/enumeration.py

bench-ceiling: install
	$(BIN)/python benchmarks/login_ceiling.py

bench-scale: install
	$(BIN)/python benchmarks/scale.py --backend sqlite
	$(BIN)/python benchmarks/scale.py --backend postgres

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
