"""A web process never imports the training libraries (issue 19, docs/performance.md "Memory").

Checked in fresh interpreters: one doing what a gunicorn worker does at start (the WSGI application, every view
module through the whole URLconf, the admin's URLs, the Celery application, the readiness check's module) and
importing the tasks module as the requests that queue work do; one serving predictions with an active version
(API, a student's, what-if, a CSV batch queued, the web form), the pages people read (the monitoring pages and
the admin's version pages included), and a model admin making another version the challenger, activating it and
rolling back. A failure names, for each way into a heavy library, the chain of modules
that imported it (`python -X importtime`) and the project's lines on the stack as it was first imported.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = frozenset({"sklearn", "scipy", "pandas", "skops", "fairlearn", "onnx", "skl2onnx", "matplotlib", "joblib"})

STARTED = "-- started like a worker --"
PRELUDE = """
import importlib, importlib.util, json, sys
HEAVY, STARTED = set(json.loads(sys.argv[1])), sys.argv[2]

def import_module(name, package=None):
    # As importlib's, through the import statement's machinery: -X importtime reports only that one, so the
    # modules Django imports by name (apps, admin autodiscovery, URL includes) appear in the importers' chains.
    name = importlib.util.resolve_name(name, package)
    __import__(name)
    return sys.modules[name]

importlib.import_module = import_module  # before Django binds it

class FirstHeavyImports:
    # Where each heavy package was first imported from: the project's lines on the stack (importtime knows
    # modules only, so an import inside a function called by a request would show no importer).
    where = {}

    def find_spec(self, name, path=None, target=None):
        package = name.split(".")[0]
        if package in HEAVY and package not in self.where and package not in sys.modules:
            import os, traceback
            self.where[package] = [
                f"{os.path.relpath(frame.filename)}:{frame.lineno} {frame.name}" for frame in traceback.extract_stack()
                if frame.filename.startswith(os.getcwd()) and "/.venv/" not in frame.filename
            ][-8:]
        return None

sys.meta_path.insert(0, FirstHeavyImports())

def heavy_loaded():
    return sorted(name for name in sys.modules if name.split(".")[0] in HEAVY)

def report(**fields):
    print(json.dumps({**fields, "heavy": heavy_loaded(), "where": FirstHeavyImports.where}))

import studentperf.wsgi  # django.setup() and get_wsgi_application(), as gunicorn imports it
"""
WORKER_START = PRELUDE + """
from django.contrib import admin
from django.urls import URLResolver, get_resolver

def resolve_all(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            resolve_all(pattern.url_patterns)  # imports the view modules of each include()

resolve_all(get_resolver().url_patterns)
admin.site.get_urls()
import studentperf.celery
import studentperf.readiness  # deploy/gunicorn.conf.py's post_worker_init
import predictions.tasks  # what a request that queues work imports (a CSV batch, an accuracy check, a retraining)
report()
print(STARTED, file=sys.stderr, flush=True)  # where the importtime report of the start ends
import modelstore.ml.recipe  # a training path: the same check must see its libraries
report()
"""
# The requests a worker serves with the active version: a prediction through the API (one record and a list), a
# student's prediction, a what-if, a CSV batch queued, the web form's prediction; then the pages people read
# (dashboard, what-if, batches, monitoring, the admin's version pages, the API's reads). argv[3]: the API key,
# argv[4]: a record; the teacher and the superuser (with an authenticator app) exist.
SERVING = PRELUDE + """
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from modelstore.models import ModelVersion

key, record = sys.argv[3], json.loads(sys.argv[4])
statuses = []

def answered(response):
    statuses.append(response.status_code)
    return response

api = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
answered(api.post("/api/v1/predict", record, content_type="application/json"))
answered(api.post("/api/v1/predict", {"instances": [record] * 100}, content_type="application/json"))
student = answered(api.post("/api/v1/students", {"external_id": "lean-1", **record}, content_type="application/json"))
student_url = f"/api/v1/students/{student.json()['id']}"
answered(api.post(f"{student_url}/predict"))
answered(api.post(f"{student_url}/what-if", {"changes": {"studytime": 4}}, content_type="application/json"))
csv_file = ";".join(record) + "\\n" + ";".join("" if value is None else str(value) for value in record.values())
answered(api.post("/api/v1/batches", {"file": SimpleUploadedFile("class.csv", csv_file.encode(), "text/csv")}))
web = Client()
web.force_login(get_user_model().objects.get(username="teacher"))
answered(web.post("/predictions/new/", {name: "" if value is None else value for name, value in record.items()}))
root = get_user_model().objects.get(username="root")
admin_client = Client()
admin_client.force_login(root)
session = admin_client.session
session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=root).persistent_id
session.save()
version_page = f"/admin/modelstore/modelversion/{ModelVersion.objects.get(status='active').pk}/change/"
for path in ("/", f"/students/{student.json()['id']}/what-if/", "/batches/", "/monitoring/", "/monitoring/accuracy/",
             "/admin/", "/admin/modelstore/modelversion/", version_page):
    answered(admin_client.get(path))
for path in ("/api/v1/models", "/api/v1/monitoring/accuracy", student_url + "/predictions"):
    answered(api.get(path))
# The model lifecycle as a model admin drives it in the admin: the second version made the challenger, promoted
# (activated), then rolled back; each confirmation page, then its POST; then a prediction from the version back.
second, lifecycle = ModelVersion.objects.get(name="lean-2"), []
for path in (f"challenger/{second.pk}", f"activate/{second.pk}", "rollback"):
    action, _, pk = path.partition("/")
    url = f"/admin/modelstore/modelversion/{pk + '/' if pk else ''}{action}/"
    answered(admin_client.get(url))
    answered(admin_client.post(url))
    lifecycle.append([ModelVersion.objects.get(status="active").name,
                      ModelVersion.objects.filter(is_challenger=True).values_list("name", flat=True).first()])
answered(api.post("/api/v1/predict", record, content_type="application/json"))
print(STARTED, file=sys.stderr, flush=True)
report(statuses=statuses, lifecycle=lifecycle)
"""


def import_chains(importtime: str, heavy: frozenset[str] = HEAVY) -> list[list[str]]:
    """The ways into `heavy` packages in a `python -X importtime` report: for each heavy module imported by a
    module that is not heavy (or at the top level), the chain of importers from the outermost import down to it.

    importtime prints a module once its import ends, indented by two spaces per level of nesting; so the
    module that imported a line's module is the next line below it that is one level less indented.
    """
    entries = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or line.rstrip().endswith("imported package"):
            continue
        field = line.split("|", 2)[2]
        name = field.strip()
        entries.append((name, (len(field) - len(field.lstrip()) - 1) // 2))

    def is_heavy(name: str) -> bool:
        return name.split(".")[0] in heavy

    chains = []
    for index, (name, level) in enumerate(entries):
        if not is_heavy(name):
            continue
        chain, wanted = [name], level - 1
        for importer, importer_level in entries[index + 1:]:
            if wanted < 0:
                break
            if importer_level == wanted:
                chain.insert(0, importer)
                wanted -= 1
        if len(chain) == 1 or not is_heavy(chain[-2]):
            chains.append(chain)
    return chains


def describe_chains(chains: list[list[str]], limit: int = 15) -> str:
    lines = [" -> ".join(chain) for chain in chains[:limit]]
    if len(chains) > limit:
        lines.append(f"... and {len(chains) - limit} more")
    return "\n".join(lines)


def run_fresh(script: str, *arguments: str, **env: str) -> tuple[list[str], str]:
    """Run `script` in a fresh interpreter under -X importtime: (its stdout lines, the importtime report up to
    the STARTED mark)."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "studentperf.test_settings"),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script, json.dumps(sorted(HEAVY)), STARTED, *arguments],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.strip().splitlines(), done.stderr.split(STARTED)[0]


def heavy_message(what: str, found: dict, importtime: str) -> str:
    """Which heavy packages `found` (a report of the scripts) names, the chains of modules that imported them,
    and the project's lines on the stack as each was first imported."""
    packages = sorted({name.split(".")[0] for name in found["heavy"]})
    stacks = [
        f"{package}, first from:\n    " + "\n    ".join(found["where"].get(package, ["?"])) for package in packages
    ]
    return "\n".join([f"{what} imports {packages}; imported by:", describe_chains(import_chains(importtime)), *stacks])


def test_a_web_worker_imports_no_training_library(tmp_path):
    lines, importtime = run_fresh(WORKER_START, DATABASE_URL=f"sqlite:///{tmp_path / 'throwaway.sqlite3'}")
    at_start, after_training_import = (json.loads(line) for line in lines[-2:])

    assert at_start["heavy"] == [], heavy_message("a web worker at start", at_start, importtime)
    # The check sees them when they are imported: a training module still brings scikit-learn.
    assert "sklearn" in after_training_import["heavy"]
    assert "modelstore/ml/recipe.py" in after_training_import["where"]["sklearn"][-1]


def test_serving_and_pages_import_no_training_library(roles, django_user_model, settings, small_pipelines, record):
    # Committed rows (roles: real transactions), as the fresh interpreter reads the test database.
    from django.db import connection
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from modelstore import services
    from predictions.access.roles import user_create
    from predictions.models import ApiKey
    from predictions.monitoring.services import accuracy_check_run

    version = services.model_version_register(pipelines=small_pipelines, name="lean", description="", created_by=None)
    services.model_version_activate(version=version, user=None)
    services.model_version_register(pipelines=small_pipelines, name="lean-2", description="", created_by=None)
    _, key = ApiKey.objects.create_key(name="lean imports", scopes=["predict", "read", "write"])
    user_create(username="teacher", password="a-long-test-password", role="teacher")
    root = django_user_model.objects.create_superuser(username="root", password="a-long-test-password", email="")
    TOTPDevice.objects.create(user=root, name="authenticator", confirmed=True)
    accuracy_check_run()  # a stored check for the monitoring pages to show

    lines, importtime = run_fresh(
        SERVING, key, json.dumps(record),
        STUDENTPERF_TEST_DB_NAME=str(connection.settings_dict["NAME"]), MODEL_STORE_DIR=str(settings.MODEL_STORE_DIR),
        MODEL_ENCRYPTION_KEY=base64.urlsafe_b64encode(settings.MODEL_ENCRYPTION_KEY).decode(),
    )
    served = json.loads(lines[-1])

    assert served["statuses"] == [200, 200, 201, 200, 200, 202, 302] + [200] * 11 + [200, 302] * 3 + [200]
    # Made the challenger, promoted, rolled back: each checked (the package and graphs read, the predictors
    # built) and served without scikit-learn, as the graphs carry their serving state.
    assert served["lifecycle"] == [["lean", "lean-2"], ["lean-2", None], ["lean", None]]
    assert served["heavy"] == [], heavy_message("serving predictions, pages and the model lifecycle", served, importtime)


def test_import_chains_follow_importtimes_indentation():
    report = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:        10 |         10 |       numpy",
        "import time:        10 |         10 |       sklearn.utils",
        "import time:        10 |         20 |     sklearn",
        "import time:        10 |         40 |   modelstore.storage",
        "import time:        10 |         50 | modelstore.admin",
        "import time:        10 |         10 |   pandas",
        "import time:        10 |         20 | predictions.monitoring.selectors",
    ])

    assert import_chains(report) == [
        ["modelstore.admin", "modelstore.storage", "sklearn"],
        ["predictions.monitoring.selectors", "pandas"],
    ]
