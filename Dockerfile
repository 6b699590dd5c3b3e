# studentperf: one image for the web processes (gunicorn, the default command), the Celery worker, Celery beat and
# the one-shot bootstrap (docs/deployment.md). Runtime dependencies only (requirements.txt, every package pinned).
#   docker build -t studentperf .
# Without access to a public registry, build FROM a local Debian 12 + Python 3.11 image (make stack does):
#   podman build --format docker --build-arg BASE_IMAGE=localhost/debian-python:bookworm -t studentperf .
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# A system user with no login shell owns nothing but its data folders: the code is root's and read-only to it.
RUN groupadd --system --gid 10001 studentperf \
 && useradd --system --uid 10001 --gid studentperf --home-dir /app --no-create-home --shell /usr/sbin/nologin studentperf

WORKDIR /app
# Dependencies first: a code change rebuilds only the layers below.
COPY requirements.txt ./
RUN python3 -m venv "$VIRTUAL_ENV" && pip install --no-compile -r requirements.txt

COPY . .
# Static files at build time (whitenoise serves them from var/static); throw-away secrets only satisfy the
# production settings' checks for this one command and stay in no layer's environment.
RUN DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    MODEL_ENCRYPTION_KEY="$(python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
    LOG_STREAM=stderr LOG_LEVEL=WARNING python manage.py collectstatic --noinput --verbosity 0 \
 && python -m compileall -q /app/studentperf /app/modelstore /app/predictions \
 && mkdir -p /data/models /data/logs /data/beat \
 && chown -R studentperf:studentperf /data \
 && chmod 700 /data/models \
 && mkdir -p -m 1777 /run/prometheus

# The folders the compose file mounts named volumes on (a new volume takes this ownership). /run/prometheus: where
# compose.yaml mounts the metrics tmpfs (mode=1777). podman gives a tmpfs the mode of the folder it covers when it
# restarts a container (`restart`, restart policy, reboot): without this folder, 755 and root's, and every request
# of the restarted web container failed with a 500 (its workers could not write their metrics files).
# HOME: a writable place for libraries' caches (onnxruntime's telemetry id); the code folder is read-only.
ENV MODEL_STORE_DIR=/data/models \
    GUNICORN_BIND=0.0.0.0:8000 \
    HOME=/tmp
USER studentperf
EXPOSE 8000
# Liveness of the web process; worker and beat containers replace or disable it (compose.yaml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "studentperf.wsgi"]
