from __future__ import annotations

import json
import os

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from modelstore import backup, loader, storage
from modelstore.ml.inference import predict_records
from modelstore.models import ModelVersion


def _row_counts() -> dict[str, int]:
    """Rows of every model a backup holds."""
    left_out = set(backup.NOT_BACKED_UP)
    return {
        model._meta.label: model._base_manager.count() for model in apps.get_models()
        if not {model._meta.app_label, model._meta.label_lower} & left_out
    }


@pytest.fixture
def served(roles, active_version, make_user, record):
    """A teacher with a student and a prediction, served by the active version; its prediction of `record`."""
    from predictions.services import prediction_create, student_create

    teacher = make_user("teacher")
    student = student_create(data={"external_id": "S-1", **record}, teacher=teacher)
    prediction_create(record=record, source="web", user=teacher, student=student)
    return predict_records(loader.loaded_model_get().predictors, [record])


@pytest.mark.django_db(transaction=True)
def test_a_restored_backup_serves_the_same_version_with_the_same_predictions(
    served, active_version, record, tmp_path, settings, monkeypatch
):
    from predictions.access.roles import roles_sync
    from predictions.services import student_create

    counts = _row_counts()
    call_command("backup", "--out", str(tmp_path / "backup"))
    call_command("flush", interactive=False)
    roles_sync(apps=apps)  # what `migrate` leaves in a new database: the role groups, to be updated, not doubled
    settings.MODEL_STORE_DIR = tmp_path / "new-store"
    monkeypatch.setattr(loader, "_loaded", None)  # this process must load the restored file

    call_command("restore", str(tmp_path / "backup"))

    restored = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    assert (restored.version, restored.artifact_sha256) == (active_version.version, active_version.artifact_sha256)
    assert storage.version_artifact_read(restored).graphs.keys() == active_version.onnx_graphs_sha256.keys()
    assert predict_records(loader.loaded_model_get().predictors, [record]) == served
    assert _row_counts() == counts and counts["predictions.Prediction"] == 1 and counts["auth.Group"] == 2
    teacher = apps.get_model("auth", "User").objects.get(username="teacher")
    assert [group.name for group in teacher.groups.all()] == ["Teacher"]
    assert Group.objects.get(name="Teacher").permissions.exists()
    # The primary key sequences (reset by the flush) went past the restored rows: a new row takes a fresh key.
    restored_student = teacher.students.get(external_id="S-1")
    assert student_create(data={"external_id": "S-2", **record}, teacher=teacher).pk > restored_student.pk


@pytest.mark.django_db(transaction=True)
def test_a_backup_whose_models_the_configured_keys_cannot_read_is_refused_and_the_database_left_empty(
    active_version, tmp_path, settings
):
    call_command("backup", "--out", str(tmp_path / "backup"))
    call_command("flush", interactive=False)
    settings.MODEL_ENCRYPTION_KEYS = (os.urandom(32),)

    refusal = f"v{active_version.version} would not load after the restore: The artifact .* failed authentication"
    with pytest.raises(CommandError, match=refusal):
        call_command("restore", str(tmp_path / "backup"))

    assert _row_counts() == dict.fromkeys(_row_counts(), 0)


@pytest.mark.django_db
def test_restore_into_a_database_with_data_is_refused_and_changes_nothing(active_version, tmp_path, settings):
    backup.backup_create(out_dir=tmp_path / "backup")
    counts = _row_counts()
    settings.MODEL_STORE_DIR = tmp_path / "new-store"

    refusal = r"already holds data \(.*1 modelstore.ModelVersion.*\): a backup is restored only into a freshly"
    with pytest.raises(CommandError, match=refusal):
        call_command("restore", str(tmp_path / "backup"))

    assert _row_counts() == counts and not (tmp_path / "new-store").exists()


@pytest.mark.parametrize("damaged", ["database", "model file"])
@pytest.mark.django_db(transaction=True)
def test_a_backup_file_other_than_its_manifest_says_is_refused_before_anything_is_written(
    active_version, tmp_path, settings, damaged
):
    manifest = backup.backup_create(out_dir=tmp_path / "backup")
    path = manifest["files"][0 if damaged == "database" else 1]["path"]
    blob = bytearray((tmp_path / "backup" / path).read_bytes())
    blob[-2] ^= 0x01
    (tmp_path / "backup" / path).write_bytes(bytes(blob))
    call_command("flush", interactive=False)
    settings.MODEL_STORE_DIR = tmp_path / "new-store"

    with pytest.raises(CommandError, match=f"{path} is not the file the backup recorded"):
        call_command("restore", str(tmp_path / "backup"))

    assert not ModelVersion.objects.exists() and not (tmp_path / "new-store").exists()


@pytest.mark.django_db
def test_a_backup_from_a_newer_installation_is_refused(tmp_path):
    backup.backup_create(out_dir=tmp_path / "backup")
    manifest_path = tmp_path / "backup" / backup.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["migrations"]["modelstore"].append("9999_from_the_future")
    manifest_path.write_text(json.dumps(manifest))

    with pytest.raises(CommandError, match=r"newer installation: .*\(modelstore.9999_from_the_future\)"):
        call_command("restore", str(tmp_path / "backup"))


@pytest.mark.django_db
def test_a_backup_writes_a_manifest_of_private_files_into_a_new_folder_only(active_version, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "something").write_text("")
    with pytest.raises(CommandError, match="not an empty folder"):
        call_command("backup", "--out", str(tmp_path / "taken"))

    manifest = backup.backup_create(out_dir=tmp_path / "backup")

    assert [entry["path"] for entry in manifest["files"]] == ["database.json", f"models/{active_version.artifact_file}"]
    assert "0003_roles" in manifest["migrations"]["predictions"] and manifest["database_vendor"]
    assert "MODEL_ENCRYPTION_KEYS" in manifest["model_files"]
    written = sorted(path.relative_to(tmp_path / "backup").as_posix() for path in (tmp_path / "backup").rglob("*"))
    assert written == ["database.json", "manifest.json", "models", f"models/{active_version.artifact_file}"]
    assert all(oct(path.stat().st_mode & 0o777) in ("0o600", "0o700") for path in (tmp_path / "backup").rglob("*"))
    dumped = {row["model"] for row in json.loads((tmp_path / "backup" / "database.json").read_text())}
    assert "modelstore.modelversion" in dumped and not dumped & {"contenttypes.contenttype", "auth.permission"}
