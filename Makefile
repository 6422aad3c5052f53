PYTHON ?= python3
VENV ?= .venv
PORT ?= 5000
BIN := $(VENV)/bin

.PHONY: install install-dev run demo dev test test-fast lint bench mutation vendor clean openai-conformance

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --editable .
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt pyproject.toml tests/live/node_sdk/package-lock.json tests/live/codex/package-lock.json | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --editable .
	npm ci --prefix tests/live/node_sdk --no-audit --no-fund --loglevel=error
	npm ci --prefix tests/live/codex --no-audit --no-fund --loglevel=error
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

run: install  ## install, then serve on 0.0.0.0:$(PORT) with gunicorn (`chatgate serve`)
	PORT=$(PORT) $(BIN)/chatgate serve

demo: install  ## install, then serve the offline demo model on 0.0.0.0:$(PORT): every surface, no key needed
	PORT=$(PORT) $(BIN)/chatgate serve --demo

dev: install  ## install, then run Flask's development server
	PORT=$(PORT) $(BIN)/python main.py

test: install-dev  ## install, then run every test
	$(BIN)/python -m pytest

test-fast: install-dev  ## install, then run the unit and in-process API tests only (no gunicorn, Redis, browser, fuzzing)
	$(BIN)/python -m pytest -m "not slow" tests/unit tests/api

lint: install-dev  ## install, then check the code (ruff check), its formatting (ruff format --check) and its types (mypy --strict on storage, upstream and guard)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

openai-conformance: install-dev  ## schemathesis with OpenAI's own API description against /v1 (OPENAI_OPENAPI=path/to/openapi.json)
	$(BIN)/python -m tests.support.openai_conformance "$(OPENAI_OPENAPI)" "$(or $(SECONDS),300)"

bench: install-dev  ## install, then measure the service against a bare relay (the floor); updates docs/benchmarks.md
	$(BIN)/python -m bench --write docs/benchmarks.md

mutation: install-dev  ## flip each check in the guard and routing modules, one at a time, and see whether a test notices (about an hour; not in CI); writes docs/mutation.md
	$(BIN)/pip install --quiet mutmut==3.8.1
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 >/dev/null || true
	$(BIN)/python -m tests.support.mutation_scores --write docs/mutation.md

# The playground's browser libraries and their licences, copied from the npm registry at the versions
# chatgate/static/vendor/package-lock.json pins; the copies are committed, so serving needs no npm.
VENDORED := marked/lib/marked.umd.js marked/LICENSE dompurify/dist/purify.min.js dompurify/LICENSE \
            dompurify/LICENSE-MPL @highlightjs/cdn-assets/highlight.min.js @highlightjs/cdn-assets/LICENSE \
            uplot/dist/uPlot.iife.min.js uplot/dist/uPlot.min.css uplot/LICENSE

vendor:  ## fetch the playground's browser libraries (markdown, sanitiser, highlighter) at their pinned versions
	@set -e; scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	cp chatgate/static/vendor/package.json chatgate/static/vendor/package-lock.json "$$scratch"; \
	npm ci --prefix "$$scratch" --ignore-scripts --no-audit --no-fund --loglevel=error; \
	for file in $(VENDORED); do install -D -m 644 "$$scratch/node_modules/$$file" "chatgate/static/vendor/$$file"; done

clean:
	rm -rf $(VENV) .pytest_cache mutants
