PYTHON ?= python3
VENV ?= .venv
PORT ?= 5000
BIN := $(VENV)/bin

.PHONY: install install-dev run dev test test-fast bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt tests/live/node_sdk/package-lock.json | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	npm ci --prefix tests/live/node_sdk --no-audit --no-fund --loglevel=error
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

run: install  ## install, then serve on 0.0.0.0:$(PORT) with gunicorn
	PORT=$(PORT) $(BIN)/gunicorn main:app

dev: install  ## install, then run Flask's development server
	PORT=$(PORT) $(BIN)/python main.py

test: install-dev  ## install, then run every test
	$(BIN)/python -m pytest

test-fast: install-dev  ## install, then run the unit and in-process API tests only (no gunicorn, Redis, browser)
	$(BIN)/python -m pytest tests/unit tests/api

bench: install-dev  ## install, then measure the service against a direct call; updates docs/benchmarks.md
	$(BIN)/python -m bench --write docs/benchmarks.md

clean:
	rm -rf $(VENV) .pytest_cache
