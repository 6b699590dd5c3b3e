"""Chunked request bodies against a real gunicorn (issue 18, attack 5; studentperf/chunked.py).

http.client sends the body with `Transfer-Encoding: chunked` and no Content-Length, as the attack did. gunicorn
runs the production settings and deploy/gunicorn.conf.py on a throw-away SQLite database, migrated here and given
a small model and an API key through the real commands, with a Redis of its own for the batch upload's queue.
Requests come from 127.0.0.1, a trusted proxy address, saying they came over HTTPS, as nginx's do.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys

import pytest

from modelstore import storage
from tests.integration.conftest import free_port
from tests.integration.test_metrics_gunicorn import ROOT, TOKEN, Gunicorn
from tests.predictions.batches.support import csv_text

MAX_BODY = 4096


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def served(tmp_path_factory, small_pipelines, redis_server):
    """(gunicorn with an active model, an API key with every scope): set up once, the tests only read."""
    tmp_path = tmp_path_factory.mktemp("chunked")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "studentperf.settings", "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": base64.urlsafe_b64encode(os.urandom(48)).decode(),
        "MODEL_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "MODEL_STORE_DIR": str(tmp_path / "models"), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": redis_server.url, "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "API_MAX_BODY_BYTES": str(MAX_BODY),
        "METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"), "WEB_CONCURRENCY": "1",
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}", "OMP_NUM_THREADS": "1",
    }
    (tmp_path / "prometheus").mkdir()  # the commands below may count in it too
    package = tmp_path / "small.skops"
    package.write_bytes(storage.package_dumps(small_pipelines, {"name": "small"}))
    manage(env, "migrate", "--noinput")
    manage(env, "createcachetable")
    manage(env, "import_model", str(package), "--activate")
    key = manage(env, "create_api_key", "chunked", "--scopes", "predict,read,write").split()[-1]
    server = Gunicorn(env=env, log_path=tmp_path / "gunicorn.log")
    server.start()
    try:
        yield server, key
    finally:
        server.stop()
        redis_server.flush()


def post_chunked(served, path: str, chunks: list[bytes], content_type: str) -> tuple[int, dict]:
    server, key = served
    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=30)
    try:
        headers = {"Authorization": f"Api-Key {key}", "Content-Type": content_type, "X-Forwarded-Proto": "https"}
        connection.request("POST", path, body=iter(chunks), headers=headers, encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_chunked_record_gets_its_prediction_from_gunicorn(served, record):
    """The attack: "every field is required" for a valid record sent chunked."""
    body = json.dumps(record).encode()

    status, answer = post_chunked(served, "/api/v1/predict", [body[:100], body[100:500], body[500:]],
                                  "application/json")

    assert status == 200, answer
    assert answer["setup"] == "A" and 0 <= answer["predicted_grade"] <= 20


def test_a_chunked_body_over_api_max_body_bytes_gets_413_json_from_gunicorn(served, record):
    padded = json.dumps(dict(record, note="x" * MAX_BODY)).encode()

    status, answer = post_chunked(served, "/api/v1/predict", [padded[:1000], padded[1000:]], "application/json")

    assert status == 413 and answer["error"] == "too_large" and answer["request_id"]
    assert f"{MAX_BODY:,} bytes" in answer["message"]


def test_a_chunked_batch_upload_is_queued_by_gunicorn(served, record):
    boundary = "chunked-boundary"
    data = csv_text([record, dict(record, age="99"), record]).encode()
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="class.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()

    status, answer = post_chunked(served, "/api/v1/batches", [body[:200], body[200:]],
                                  f"multipart/form-data; boundary={boundary}")

    assert status == 202, answer
    assert answer["status"] == "queued" and answer["rows_total"] == 3
