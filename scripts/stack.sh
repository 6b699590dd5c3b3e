#!/usr/bin/env bash
# `make stack` / `make stack-down`: the compose stack of compose.yaml on this machine, with podman, from local
# images only (compose.local.yaml), HTTPS on https://localhost:8443 (docs/deployment.md, "On this machine").
#   scripts/stack.sh up [--scale web=N]   build the images, write .env.stack and a self-signed certificate once,
#                                         start everything, wait for /health/ready through the proxy
#   scripts/stack.sh down [--volumes]     stop and remove the containers (and the named volumes)
#   scripts/stack.sh compose ARGS...      podman-compose with this stack's files, e.g. `compose logs web`
set -euo pipefail
cd "$(dirname "$0")/.."
ENV_FILE=${STACK_ENV_FILE:-.env.stack}
BASE_IMAGE=${BASE_IMAGE:-localhost/debian-python:bookworm}
READY_TIMEOUT=${STACK_READY_TIMEOUT:-900}
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

compose() { podman-compose -f compose.yaml -f compose.local.yaml --env-file "$ENV_FILE" "$@"; }
env_value() { sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1; }

tools_require() {
  if command -v podman >/dev/null && command -v podman-compose >/dev/null && podman image exists "$BASE_IMAGE"; then
    return
  fi
  # podman, podman-compose and the local Debian + Python base image (no public registry is reachable here).
  local setup=../shared/tools/containers-setup.sh
  if [ -f "$setup" ]; then
    bash "$setup"
  else
    echo "make stack needs podman, podman-compose and the base image $BASE_IMAGE (docs/deployment.md)." >&2
    exit 1
  fi
}

images_build() {
  local mount=()
  [ -f "$CA_BUNDLE" ] && mount=(-v "$CA_BUNDLE:$CA_BUNDLE:ro")  # lets pip in the build reach the package index
  echo "== building localhost/studentperf:latest and the local postgres, redis and nginx images"
  podman build --quiet --format docker --network host "${mount[@]}" --build-arg BASE_IMAGE="$BASE_IMAGE" \
    -t localhost/studentperf:latest . >/dev/null
  for name in postgres redis nginx; do
    podman build --quiet --format docker --network host --build-arg BASE_IMAGE="$BASE_IMAGE" \
      -t "localhost/studentperf-$name:local" "deploy/images/$name" >/dev/null
  done
}

env_write() {
  [ -f "$ENV_FILE" ] && return
  secret() { python3 -c "import secrets; print(secrets.token_hex(24))"; }
  umask 077
  cat > "$ENV_FILE" <<ENV
# Written by \`make stack\` for this machine only (random secrets; never committed). deploy/env.example explains each.
ENV_FILE=$ENV_FILE
STUDENTPERF_IMAGE=localhost/studentperf:latest
DJANGO_SECRET_KEY=$(python3 -c "import secrets; print(secrets.token_urlsafe(50))")
MODEL_ENCRYPTION_KEYS=$(python3 -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())")
DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1
DJANGO_CSRF_TRUSTED_ORIGINS=https://localhost:8443,https://127.0.0.1:8443
POSTGRES_PASSWORD=$(secret)
REDIS_PASSWORD=$(secret)
DJANGO_SUPERUSER_USERNAME=admin
DJANGO_SUPERUSER_PASSWORD=$(secret)
DJANGO_SUPERUSER_EMAIL=admin@localhost
HTTP_PORT=8080
HTTPS_PORT=8443
TLS_DIR=./deploy/tls
METRICS_TOKEN=$(secret)
WEB_CONCURRENCY=2
ENV
  echo "Wrote $ENV_FILE (random secrets for this machine)."
}

# compose.yaml's order, kept here because podman 4.3 cannot wait for health checks or a one-shot's exit
# (compose.local.yaml): the database and Redis answering, then bootstrap done, then the rest.
services_start() {
  quiet compose up -d db redis
  wait_for "PostgreSQL" podman exec studentperf_db_1 pg_isready -q -U studentperf -d studentperf
  wait_for "Redis" podman exec studentperf_redis_1 redis-cli ping
  quiet compose up -d bootstrap
  echo "== bootstrap: migrations, first superuser, default model (the first start trains it: a few minutes)"
  if [ "$(podman wait studentperf_bootstrap_1)" != 0 ]; then
    echo "bootstrap failed:" >&2
    podman logs studentperf_bootstrap_1 2>&1 | tail -n 40 >&2
    exit 1
  fi
  podman logs studentperf_bootstrap_1 2>/dev/null | grep -v '^{' || true
  quiet compose up -d "$@" proxy web worker beat
}

# podman-compose prints container ids and names, and podman 4.3's complaints about systemd: errors only.
quiet() {
  "$@" 2>&1 >/dev/null | grep -vE "failed to connect to syslog|systemd connection|condition check|no container with name" || true
}

wait_for() {
  local what=$1 deadline=$((SECONDS + 120))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "$what did not answer within 120 s" >&2; exit 1; }
    sleep 1
  done
}

ready_wait() {
  local port url deadline
  port=$(env_value HTTPS_PORT)
  url="https://localhost:$port/health/ready"
  deadline=$((SECONDS + READY_TIMEOUT))
  echo "== waiting for $url"
  until [ "$(curl -ks -o /dev/null -w '%{http_code}' --max-time 5 "$url")" = 200 ]; do
    if [ $SECONDS -ge $deadline ]; then
      echo "Not ready after ${READY_TIMEOUT}s. The bootstrap's and web's logs:" >&2
      compose logs bootstrap web 2>&1 | tail -n 60 >&2
      exit 1
    fi
    sleep 3
  done
}

case "${1:-}" in
  up)
    shift
    tools_require
    images_build
    bash scripts/make_tls_cert.sh deploy/tls
    env_write
    services_start "$@"
    ready_wait
    port=$(env_value HTTPS_PORT)
    echo
    echo "studentperf is up: https://localhost:$port/ (a self-signed certificate: your browser will ask)."
    echo "Log in as $(env_value DJANGO_SUPERUSER_USERNAME) with the password DJANGO_SUPERUSER_PASSWORD in $ENV_FILE."
    echo "Stop it with 'make stack-down' (add VOLUMES=1 to delete its data too)."
    ;;
  down)
    shift
    [ -f "$ENV_FILE" ] || { echo "No $ENV_FILE: nothing was started with make stack."; exit 0; }
    flags=()
    [ "${1:-}" = "--volumes" ] && flags=(-v)
    # podman-compose's down removes only the containers of the compose file's counts: those `--scale` added stay
    # (a web process of the old stack would go on serving half the requests). Remove those first, then let down
    # stop and remove the rest with the network and the volumes.
    podman ps -aq --filter label=io.podman.compose.project=studentperf --filter 'name=_([2-9]|[1-9][0-9]+)$' \
      | xargs -r podman rm -f -t 30 2>&1 >/dev/null | grep -v "systemd" || true
    quiet compose down "${flags[@]}"
    ;;
  compose)
    shift
    compose "$@"
    ;;
  *)
    echo "usage: scripts/stack.sh up [--scale web=N] | down [--volumes] | compose ARGS..." >&2
    exit 2
    ;;
esac
