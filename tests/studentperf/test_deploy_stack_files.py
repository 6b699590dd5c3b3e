"""The deployment files agree with each other and with the issue's contract: compose.yaml, the Dockerfile,
deploy/env.example, the nginx template and the systemd units. The stack itself runs in tests/stack (CI)."""
from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("web", "worker", "beat", "bootstrap")
SYSTEMD = ROOT / "deploy" / "systemd"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "studentperf.conf.template"
INTERPOLATED = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")


class ComposeLoader(yaml.SafeLoader):
    """YAML with compose's `!reset` tag (compose.local.yaml), read as None."""


ComposeLoader.add_constructor("!reset", lambda loader, node: None)


def test_compose_has_exactly_the_contract_services():
    assert set(SERVICES) == {"proxy", "web", "worker", "beat", "db", "redis", "bootstrap"}


def test_the_app_services_run_one_image_and_wait_for_the_bootstrap():
    images = {SERVICES[name]["image"] for name in APP_SERVICES}
    assert images == {"${STUDENTPERF_IMAGE:-studentperf:latest}"}
    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["depends_on"] == {"bootstrap": {"condition": "service_completed_successfully"}}
    assert SERVICES["bootstrap"]["restart"] == "no"
    assert SERVICES["bootstrap"]["command"][:3] == ["python", "manage.py", "bootstrap"]


@pytest.mark.parametrize("name", ["web", "worker"])
def test_web_and_worker_scale_out_no_fixed_names_or_host_ports(name):
    assert "container_name" not in SERVICES[name]
    assert "ports" not in SERVICES[name]


def test_official_images_by_default_and_local_ones_only_in_the_override():
    assert SERVICES["db"]["image"].endswith("postgres:15}")
    assert SERVICES["redis"]["image"].endswith("redis:7}")
    assert SERVICES["proxy"]["image"].startswith("${NGINX_IMAGE:-nginx:")
    local = yaml.load((ROOT / "compose.local.yaml").read_text(), Loader=ComposeLoader)["services"]
    assert {service["image"].split("/")[0] for service in local.values() if "image" in service} == {"localhost"}
    assert {name for name, service in local.items() if "image" in service} == {"db", "redis", "proxy"}


def test_data_lives_in_named_volumes():
    assert set(COMPOSE["volumes"]) == {"db-data", "redis-data", "models", "logs"}
    mounts = {volume.split(":")[1] for volume in SERVICES["web"]["volumes"]}
    assert mounts == {"/data/models", "/data/logs"}
    assert SERVICES["web"]["environment"]["MODEL_STORE_DIR"] == "/data/models"


def test_every_variable_compose_reads_is_documented_in_env_example():
    example = (ROOT / "deploy" / "env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    used = set(INTERPOLATED.findall((ROOT / "compose.yaml").read_text()))

    assert used - documented == set()


def test_the_required_secrets_are_empty_in_env_example():
    """Nobody deploys the example's secrets: they must be filled in."""
    example = dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", (ROOT / "deploy" / "env.example").read_text(),
                              flags=re.MULTILINE))
    for name in ("DJANGO_SECRET_KEY", "MODEL_ENCRYPTION_KEYS", "POSTGRES_PASSWORD", "REDIS_PASSWORD",
                 "DJANGO_SUPERUSER_PASSWORD"):
        assert example[name] == "", name


def test_the_image_runs_as_a_non_root_user_with_a_standard_base_and_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n.*/health/live", dockerfile, flags=re.MULTILINE)
    assert 'CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "studentperf.wsgi"]' in dockerfile
    assert "requirements-dev" not in dockerfile.replace(".dockerignore", "")
    assert "collectstatic" in dockerfile


def test_the_image_leaves_out_secrets_tests_and_the_virtualenv():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".env.*", ".venv", ".git", "tests", "deploy/tls", "var"} <= ignored


def test_runtime_requirements_are_fully_pinned_and_hold_no_test_tools():
    runtime = (ROOT / "requirements.txt").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==", runtime, flags=re.MULTILINE)
    lines = [line for line in runtime.splitlines() if line.strip() and not line.lstrip().startswith("#")]

    assert all("==" in line for line in lines)
    assert {"django", "celery", "scikit-learn", "gunicorn", "sentry-sdk"} <= {pin.lower() for pin in pins}
    assert {"kombu", "asgiref", "threadpoolctl"} <= {pin.lower() for pin in pins}  # transitive ones too
    assert not {"pytest", "pytest-django", "playwright", "pip-tools"} & {pin.lower() for pin in pins}
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(r"^pytest==", dev, flags=re.MULTILINE) and re.search(r"^playwright==", dev, flags=re.MULTILINE)


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string((SYSTEMD / f"studentperf-{name}.service").read_text())
    return parser


def systemd_command(name: str) -> list[str]:
    words = shlex.split(unit(name)["Service"]["ExecStart"].replace("%%", "%"))
    return [Path(words[0]).name, *words[1:]]


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_the_systemd_units_run_the_containers_commands(name):
    compose_command = [word.replace("%h", "%H") for word in SERVICES[name]["command"]]
    command = systemd_command(name)

    if name == "beat":  # the schedule file lives where each layout keeps its state
        assert command[:-1] == compose_command[:-1]
    else:
        assert command == compose_command


def test_the_systemd_web_unit_runs_the_images_command_and_bootstrap_runs_first():
    assert systemd_command("web") == ["gunicorn", "-c", "deploy/gunicorn.conf.py", "studentperf.wsgi"]
    assert systemd_command("bootstrap")[1:] == SERVICES["bootstrap"]["command"][1:]
    for name in ("web", "worker", "beat"):
        assert "studentperf-bootstrap.service" in unit(name)["Unit"]["After"]
        assert unit(name)["Service"]["User"] == "studentperf"


def test_systemd_accepts_the_units():
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run([analyze, "verify", "--man=no", *map(str, sorted(SYSTEMD.glob("*.service")))],
                            capture_output=True, text=True, timeout=60)
    # The units name /srv/studentperf, which this machine does not have; anything else is a real error.
    problems = [line for line in result.stderr.splitlines() if line.strip() and "/srv/studentperf" not in line
                and "studentperf-bootstrap.service" not in line]
    assert problems == []


def test_the_proxy_terminates_tls_redirects_buffers_and_limits():
    template = NGINX_TEMPLATE.read_text()

    assert "listen 443 ssl" in template and "ssl_certificate     /etc/nginx/tls/cert.pem;" in template
    assert "return 301 https://$host:${HTTPS_PORT}$request_uri;" in template
    assert 'add_header Strict-Transport-Security "max-age=31536000' in template
    assert "proxy_request_buffering on;" in template
    assert "limit_req zone=api_anonymous" in template
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in template
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in template


def test_the_proxy_body_caps_sit_just_above_the_applications_limits(settings):
    template = NGINX_TEMPLATE.read_text()
    caps = [int(size) * 1024 * 1024 for size in re.findall(r"client_max_body_size (\d+)m;", template)]
    limits = [settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.BATCH_MAX_BYTES, settings.MODEL_UPLOAD_MAX_BYTES]

    assert len(caps) == 4  # the default, the API batch upload, the web batch upload, the admin
    for limit in limits:
        assert any(limit < cap <= limit + 2 * 1024 * 1024 for cap in caps), limit
