# Every target creates the virtual environment itself on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run chat test check lint format bench calibrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## set up .venv with the bot and the dev tools

run: $(STAMP)  ## run the bot (needs BOT_TOKEN; SQLite under ./data by default)
	$(PY) -m bot run

chat: $(STAMP)  ## talk to the bot in the terminal, offline
	$(PY) -m bot chat

test: $(STAMP)  ## the test suite (PostgreSQL too when TEST_DATABASE_URL is set)
	$(PY) -m pytest

lint: $(STAMP)  ## format check, lint, types, import contracts, Dockerfile
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Dockerfile

check: lint test  ## everything CI runs

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)  ## retrieval quality and speed, answer lengths, Q&A throughput, delivery, two processes; prints numbers
	$(PY) -m benchmarks.retrieval
	$(PY) -m benchmarks.content
	$(PY) -m benchmarks.directory
	$(PY) -m benchmarks.throughput
	$(PY) -m benchmarks.load
	$(PY) -m benchmarks.load --database-url "$${BENCH_DATABASE_URL:-$${TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}}"
	$(PY) -m benchmarks.delivery
	$(PY) -m benchmarks.two_processes

calibrate: $(STAMP)  ## refit the answer/suggest decision on the tuning questions (writes knowledge/decision.json)
	$(PY) -m benchmarks.calibrate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
