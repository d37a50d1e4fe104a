# Pricebook: `make run` serves the API with the demo catalogue on SQLite; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS ?= --quiet --disable-pip-version-check
PORT ?= 8000

.PHONY: run test test-postgres lint typecheck format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[dev]"
	touch $@

run: $(VENV)/.installed
	$(BIN)/pricebook db upgrade
	$(BIN)/pricebook demo load
	$(BIN)/pricebook demo keys
	$(BIN)/pricebook serve --port $(PORT)

# the suite over TEST_WORKERS processes (a module stays on one: its fixtures are built once), then
# the `serial` tests alone: they bound times or load the machine, and another worker's load
# would make them flaky
TEST_WORKERS ?= 2

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not serial"
	$(BIN)/python -m pytest -q -m serial

test-postgres: $(VENV)/.installed
	PRICEBOOK_TEST_POSTGRES_URL=$${PRICEBOOK_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest -q -m postgres

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
