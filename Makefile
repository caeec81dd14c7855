# One venv in .venv, made from pyproject.toml; every target installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run demo test migrate serve bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Local run on SQLite with the embedded Redis: the web app and a worker in one process (the
# schema upgraded first). With a real bot token and no public URL: medialab run --polling.
run: $(STAMP)
	$(VENV)/bin/medialab run

# The whole system on this machine (SQLite, embedded Redis, stand-ins of Telegram, YooKassa and
# fal.ai) and a user's journey through it; exits non-zero when the books do not balance.
demo: $(STAMP)
	$(VENV)/bin/medialab demo

migrate: $(STAMP)
	$(VENV)/bin/medialab migrate

serve: $(STAMP)
	$(VENV)/bin/medialab serve

# The whole suite, on SQLite and PostgreSQL: the servers in TEST_POSTGRES_URL / TEST_REDIS_URL, else
# those on 127.0.0.1, else embedded ones (README, Tests). TEST_WORKERS pytest-xdist processes,
# each with its own databases (0: this process alone; auto: twice the CPUs, tests/conftest.py).
TEST_WORKERS ?= auto
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
