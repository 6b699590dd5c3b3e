# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup migrate model clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# Development secrets, generated once and kept out of git. Production sets real environment variables.
.env:
	$(PYTHON) scripts/make_dev_env.py > .env
	@echo "Wrote development settings to .env (not committed)."

setup: $(VENV)/.installed .env

migrate: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable

model: migrate
	$(PY) manage.py train_model --activate --if-none-active

# The web server, a Celery worker and Celery beat together (scripts/dev_server.py): one Ctrl-C stops all three.
# Redis: REDIS_URL if set, else a local redis-server if installed, else kombu's filesystem transport.
run: model
	$(PY) scripts/make_dev_env.py --complete .env
	$(PY) manage.py ensure_demo_users
	$(PY) scripts/dev_server.py --host $(HOST) --port $(PORT)

test: $(VENV)/.installed
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) var db.sqlite3 db.sqlite3-wal db.sqlite3-shm

# The benchmarks (bench/README.md), each next to its baseline measured in the same run:
# - bench-api: gunicorn with 2 workers on loopback under wrk, and in-process figures (about 2 minutes);
# - bench-batch: a 100,000-row CSV through the API and a real Celery worker on Redis (about 3 minutes);
# - bench-peers: the API against a seed-style Flask + joblib app serving the same model (about 2.5 minutes).
# wrk and redis-server come from Debian (root, or sudo). BENCH_ARGS: e.g. --profile (api), --rows N (batch).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: bench bench-api bench-batch bench-peers

$(VENV)/.bench-installed: bench/requirements.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r bench/requirements.txt
	touch $@

bench: bench-api bench-batch bench-peers

bench-api: $(VENV)/.installed $(VENV)/.bench-installed
	@command -v wrk >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y wrk; }
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y redis-server; }
	$(PY) bench/api.py $(BENCH_ARGS)

bench-batch: $(VENV)/.installed $(VENV)/.bench-installed
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y redis-server; }
	$(PY) bench/batch.py $(BENCH_ARGS)

bench-peers: $(VENV)/.installed $(VENV)/.bench-installed
	@command -v wrk >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y wrk; }
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y redis-server; }
	$(PY) bench/peers.py $(BENCH_ARGS)

# Screenshots of the main pages for the README (docs/screenshots/), taken by the browser tests.
.PHONY: screenshots
screenshots: $(VENV)/.installed
	SCREENSHOT_DIR=docs/screenshots $(VENV)/bin/pytest tests/browser -q
