# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_CTGOV := ../shared/data/ctgov
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup lint format bench clean

$(BIN)/trialatlas: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/trialatlas

run: setup
	$(BIN)/trialatlas ingest data/demo
	@if [ -d $(SHARED_CTGOV) ]; then $(BIN)/trialatlas ingest $(SHARED_CTGOV); \
	else echo "$(SHARED_CTGOV) not found: serving the demo data only"; fi
	$(BIN)/trialatlas analyze-criteria
	$(BIN)/trialatlas serve --host $(HOST) --port $(PORT)

test: setup
	bash scripts/test-deps.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format:
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: setup
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) trialatlas.db trialatlas.db-*
