"""Backing up an installation into a folder and restoring it (`manage.py backup`, `manage.py restore`).

A backup folder holds database.json (Django's `dumpdata` of every installed app with natural keys), models/
(every file of MODEL_STORE_DIR byte for byte, so still encrypted: restoring needs MODEL_ENCRYPTION_KEYS holding
the key they were written under) and manifest.json (format, date, the migrations applied, the database vendor,
and the sha256 and size of every file). Apps and models are read from Django's app registry: this module
names none of them but those it leaves out.
"""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import django
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from modelstore.selectors import model_version_active_find
from modelstore.storage import (
    FILE_SUFFIX,
    TMP_PREFIX,
    artifact_file_read,
    artifact_files,
    store_file_write,
    version_artifact_read,
)
from studentperf.errors import ApplicationError

BACKUP_FORMAT = "studentperf-backup/1"
MANIFEST = "manifest.json"
DATABASE = "database.json"
MODELS = "models"
# Left out: what `migrate` makes again (content types, permissions; natural keys refer to them) and what is
# short-lived (sessions; django-axes' login attempts, lockouts and access logs).
NOT_BACKED_UP = ("contenttypes", "auth.permission", "sessions", "axes")
# Rows a migrated, otherwise empty database already holds: the role groups predictions' data migrations
# create. Dumped with natural primary keys, a restore updates them by name instead of adding twins.
MADE_BY_MIGRATE = ("auth.group",)
ENCRYPTION_NOTE = (
    "models/ holds the model files as stored, encrypted: restoring needs MODEL_ENCRYPTION_KEYS holding the key "
    "they were written under."
)


@dataclass(frozen=True)
class RestoreReport:
    backup_created_at: str
    model_files: int
    active_version: int | None


def backup_create(*, out_dir: Path) -> dict:
    """Write a backup of the database and the model store into `out_dir` (created; refused unless absent or
    empty) and return its manifest."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ApplicationError(
            f"{out_dir} is not an empty folder: a backup goes into a new or empty one.", kind="conflict"
        )
    # Private: the dump holds password and API key hashes.
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (out_dir / MODELS).mkdir(mode=0o700)
    database = out_dir / DATABASE
    _private_file_write(database, b"")  # created 0600 before dumpdata fills it
    with _snapshot():
        migrations = _migrations_applied()
        call_command(
            "dumpdata", exclude=_not_backed_up(), natural_foreign=True, natural_primary=True, use_base_manager=True,
            output=str(database), verbosity=0,
        )
    _file_sync(database)
    # Copied after the rows: a version's file is written before its row, so every file the dump names is here.
    model_files = artifact_files()
    for file_name in model_files:
        _private_file_write(out_dir / MODELS / file_name, artifact_file_read(file_name=file_name))
    paths = [DATABASE, *(f"{MODELS}/{file_name}" for file_name in model_files)]
    manifest = {
        "format": BACKUP_FORMAT,
        "created_at": timezone.now().isoformat(),
        "django_version": django.get_version(),
        "database_vendor": connection.vendor,
        "migrations": migrations,
        "model_files": ENCRYPTION_NOTE,
        "files": [{"path": path, **_digest(out_dir / path)} for path in paths],
    }
    _private_file_write(out_dir / MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
    return manifest


def backup_restore(*, backup_dir: Path) -> RestoreReport:
    """Restore a backup into this installation: only into a migrated database without application data, from
    an installation no newer than this one, and only once every file matches its manifest.

    Model files are copied into MODEL_STORE_DIR atomically one by one, then database.json is loaded in one
    transaction, which also checks that the active version's file opens under MODEL_ENCRYPTION_KEYS. A
    refusal there rolls the database back; files already copied stay, unused (each is named by its content).
    """
    backup_dir = Path(backup_dir)
    manifest = _manifest_read(backup_dir)
    _files_verify(backup_dir, manifest["files"])
    model_files = [entry for entry in manifest["files"] if entry["path"] != DATABASE]
    with transaction.atomic():
        _migrations_check(manifest["migrations"])
        _database_empty_check()
        for entry in model_files:
            store_file_write(
                directory=Path(settings.MODEL_STORE_DIR), file_name=Path(entry["path"]).name,
                content=(backup_dir / entry["path"]).read_bytes(),
                check=lambda written, entry=entry: _digest_check(written, entry),
            )
        call_command("loaddata", str(backup_dir / DATABASE), verbosity=0)
        active = model_version_active_find()
        if active is not None:
            _active_check(active)
    return RestoreReport(
        backup_created_at=str(manifest.get("created_at", "")), model_files=len(model_files),
        active_version=active.version if active is not None else None,
    )


@contextmanager
def _snapshot():
    """One view of the database for the whole dump, so that no row points at a row the dump missed: a transaction
    (SQLite's takes the write lock, so writers wait for the dump), on PostgreSQL at REPEATABLE READ, as at its
    default READ COMMITTED each table's query would see what committed meanwhile."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def _not_backed_up() -> list[str]:
    installed = {config.label for config in apps.get_app_configs()}
    return [label for label in NOT_BACKED_UP if label.split(".")[0] in installed]


def _migrations_applied() -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app_label, name in sorted(MigrationRecorder(connection).applied_migrations()):
        applied.setdefault(app_label, []).append(name)
    return applied


def _manifest_read(backup_dir: Path) -> dict:
    try:
        manifest = json.loads((backup_dir / MANIFEST).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ApplicationError(f"{backup_dir} holds no readable {MANIFEST} ({exc.strerror or exc}).") from exc
    except ValueError as exc:
        raise ApplicationError(f"{backup_dir / MANIFEST} is not JSON ({exc}).") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise ApplicationError(f"{backup_dir} is not a backup of format {BACKUP_FORMAT}.")
    files, migrations = manifest.get("files"), manifest.get("migrations")
    if not isinstance(files, list) or not all(_entry_valid(entry) for entry in files):
        raise ApplicationError(f"{backup_dir / MANIFEST} lists its files wrongly (path, sha256, size each).")
    if DATABASE not in [entry["path"] for entry in files]:
        raise ApplicationError(f"{backup_dir / MANIFEST} lists no {DATABASE}.")
    if not isinstance(migrations, dict) or not all(isinstance(names, list) for names in migrations.values()):
        raise ApplicationError(f"{backup_dir / MANIFEST} does not list the migrations applied.")
    return manifest


def _entry_valid(entry) -> bool:
    """A file entry naming database.json or a model file right inside models/: nothing a path can escape with."""
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        return False
    if not isinstance(entry.get("size"), int):
        return False
    path = entry.get("path")
    if not isinstance(path, str):
        return False
    folder, _, name = path.partition("/")
    return path == DATABASE or (
        folder == MODELS and Path(name).name == name and name.endswith(FILE_SUFFIX) and not name.startswith(TMP_PREFIX)
    )


def _files_verify(backup_dir: Path, entries: list[dict]) -> None:
    problems = []
    for entry in entries:
        try:
            _digest_check(backup_dir / entry["path"], entry)
        except ApplicationError as exc:
            problems.append(exc.message)
    if problems:
        raise ApplicationError(
            f"The backup in {backup_dir} does not match its manifest, so nothing was restored: {' '.join(problems)}",
            kind="integrity",
        )


def _digest_check(path: Path, entry: dict) -> None:
    try:
        digest = _digest(path)
    except OSError as exc:
        raise ApplicationError(f"{entry['path']} cannot be read ({exc.strerror or exc}).", kind="integrity") from exc
    if digest != {"sha256": entry["sha256"], "size": entry["size"]}:
        raise ApplicationError(
            f"{entry['path']} is not the file the backup recorded (sha256 or size differs).", kind="integrity"
        )


def _migrations_check(recorded: dict[str, list[str]]) -> None:
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise ApplicationError(
            "The database is not fully migrated: run `manage.py migrate`, then restore.", kind="conflict"
        )
    applied = set(executor.loader.applied_migrations)
    missing = [
        f"{app}.{name}" for app, names in sorted(recorded.items()) for name in names if (app, name) not in applied
    ]
    if missing:
        raise ApplicationError(
            "The backup comes from a newer installation: its database had migrations this one has not "
            f"({', '.join(missing)}). Upgrade this installation, migrate, then restore.",
            kind="conflict",
        )


def _database_empty_check() -> None:
    """Refuse a database holding any row a restore would load, but the role groups migrations create:
    loading next to existing accounts, students or versions would mix two installations."""
    excluded = set(_not_backed_up()) | set(MADE_BY_MIGRATE)
    counts = {}
    for model in apps.get_models():
        if {model._meta.app_label, model._meta.label_lower} & excluded or model._meta.proxy or not model._meta.managed:
            continue
        count = model._base_manager.count()
        if count:
            counts[model._meta.label] = count
    if counts:
        held = ", ".join(f"{count} {label}" for label, count in counts.items())
        raise ApplicationError(
            f"The database already holds data ({held}): a backup is restored only into a freshly migrated, "
            "empty database. Nothing was changed.",
            kind="conflict",
        )


def _active_check(version) -> None:
    try:
        version_artifact_read(version)
    except ApplicationError as exc:
        raise ApplicationError(
            f"The active version v{version.version} would not load after the restore: {exc.message} Does "
            "MODEL_ENCRYPTION_KEYS hold the key of the installation backed up? The database was left empty.",
            kind="integrity",
        ) from exc


def _digest(path: Path) -> dict:
    with open(path, "rb") as handle:
        sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    return {"sha256": sha256, "size": path.stat().st_size}


def _private_file_write(path: Path, content: bytes) -> None:
    with open(path, "xb", opener=lambda name, flags: os.open(name, flags, 0o600)) as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _file_sync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
