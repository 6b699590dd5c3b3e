# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup migrate model clean requirements

# requirements.txt: the runtime (the image installs only this); requirements-dev.txt: tests and tools on top.
# Both are compiled by pip-tools from their .in files, every transitive dependency pinned (`make requirements`).
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

PIP_COMPILE := $(VENV)/bin/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
requirements: $(VENV)/.dev-installed
	$(PIP_COMPILE) -o requirements.txt requirements.in
	$(PIP_COMPILE) -o requirements-dev.txt requirements-dev.in

# The development .env is read only by what `make run` starts (DJANGO_READ_DOT_ENV=1): production never reads it.
run migrate model: export DJANGO_READ_DOT_ENV = 1

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

# The whole suite, spread over the machine's cores (pytest-xdist; PYTEST_WORKERS=0 runs it in one process).
# `--dist load` hands tests out in pytest-django's order, so each worker still runs its transactional tests (which
# empty the database, the role groups included) after the others.
PYTEST_WORKERS ?= auto
test: $(VENV)/.dev-installed
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist load

clean:
	rm -rf $(VENV) var db.sqlite3 db.sqlite3-wal db.sqlite3-shm

# The benchmarks (bench/README.md), each next to its baseline measured in the same run:
# - bench-api: gunicorn with 2 workers on loopback under wrk, and in-process figures (about 2 minutes);
# - bench-batch: a 100,000-row CSV through the API and a real Celery worker on Redis (about 3 minutes);
# - bench-peers: the API against a seed-style Flask + joblib app serving the same model (about 2.5 minutes),
#   then bench-memory: one serving process's VmRSS with the active and a second version (about 2 minutes).
# wrk and redis-server come from Debian (root, or sudo). BENCH_ARGS: e.g. --profile (api), --rows N (batch).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: bench bench-api bench-batch bench-peers bench-memory

$(VENV)/.bench-installed: bench/requirements.txt $(VENV)/.dev-installed
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
	$(PY) bench/memory.py

bench-memory: $(VENV)/.installed
	$(PY) bench/memory.py $(BENCH_ARGS)

# Screenshots of the main pages for the README (docs/screenshots/), taken by the browser tests.
.PHONY: screenshots
screenshots: $(VENV)/.dev-installed
	SCREENSHOT_DIR=docs/screenshots $(VENV)/bin/pytest tests/browser -q

# The compose stack on this machine with podman and local images (scripts/stack.sh, docs/deployment.md):
# HTTPS on https://localhost:8443. `make stack-down VOLUMES=1` also deletes its data. `make test-stack` runs the
# end-to-end test against it (tests/stack, what CI runs once): up, test, down with the volumes.
.PHONY: stack stack-down certs test-stack
stack:
	bash scripts/stack.sh up $(STACK_ARGS)

stack-down:
	bash scripts/stack.sh down $(if $(VOLUMES),--volumes)

certs:
	bash scripts/make_tls_cert.sh deploy/tls

test-stack: $(VENV)/.dev-installed
	STACK_TEST=1 $(VENV)/bin/pytest tests/stack -p no:cacheprovider
