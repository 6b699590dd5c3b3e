from __future__ import annotations

import os
import time

import pytest
from django.core.management import CommandError, call_command

from modelstore import keys, storage
from studentperf.errors import ApplicationError

pytestmark = pytest.mark.django_db

OLD_KEY, NEW_KEY = os.urandom(32), os.urandom(32)


class Crash(Exception):
    """The process dying half-way: nothing in the rotation catches it."""


def _files_under_old_key(settings, count: int) -> dict[str, str]:
    """`count` artifact files written under OLD_KEY alone: file name -> package sha256."""
    settings.MODEL_ENCRYPTION_KEYS = (OLD_KEY,)
    saved = dict(storage.artifact_save(f"model {number} ".encode() * 100)[:2] for number in range(count))
    settings.MODEL_ENCRYPTION_KEYS = (NEW_KEY, OLD_KEY)
    return saved


def _opens(settings, *configured: bytes, file_name: str, sha256: str) -> bool:
    settings.MODEL_ENCRYPTION_KEYS = configured
    try:
        storage.artifact_load(file_name=file_name, sha256=sha256)
    except ApplicationError as exc:
        assert exc.kind == "integrity"
        return False
    return True


def test_the_old_key_reads_until_rotation_then_only_the_new_one_does(settings, model_store_dir, register):
    settings.MODEL_ENCRYPTION_KEYS = (OLD_KEY,)
    version = register()  # a version's file: its package and proved graphs are checked too
    files = {version.artifact_file: version.artifact_sha256, **_files_under_old_key(settings, 1)}
    before = {name: (model_store_dir / name).read_bytes() for name in files}
    assert storage.version_artifact_read(version).graphs  # (NEW_KEY, OLD_KEY): still served

    report = keys.artifact_store_rotate()

    assert sorted(report.rotated) == sorted(files) and not report.current and not report.failed
    for name, sha256 in files.items():
        assert (model_store_dir / name).read_bytes() != before[name]
        assert _opens(settings, NEW_KEY, file_name=name, sha256=sha256)
        assert not _opens(settings, OLD_KEY, file_name=name, sha256=sha256)
    settings.MODEL_ENCRYPTION_KEYS = (NEW_KEY,)
    assert storage.version_artifact_read(version).graphs.keys() == version.onnx_graphs_sha256.keys()
    # Once done, a second run has nothing left to do and rewrites nothing.
    after = {name: (model_store_dir / name).read_bytes() for name in files}
    settings.MODEL_ENCRYPTION_KEYS = (NEW_KEY, OLD_KEY)
    again = keys.artifact_store_rotate()
    assert sorted(again.current) == sorted(files) and not again.rotated
    assert {name: (model_store_dir / name).read_bytes() for name in files} == after


def test_a_tampered_file_is_left_untouched_the_others_rotated_and_the_command_fails(settings, model_store_dir, capsys):
    files = _files_under_old_key(settings, 3)
    tampered, *intact = sorted(files)
    blob = bytearray((model_store_dir / tampered).read_bytes())
    blob[-5] ^= 0x01
    (model_store_dir / tampered).write_bytes(bytes(blob))

    with pytest.raises(CommandError, match="2 rotated, 0 already under the first key, 1 failed"):
        call_command("rotate_model_key")

    assert (model_store_dir / tampered).read_bytes() == bytes(blob)
    assert f"FAILED {tampered}: The artifact {tampered} failed authentication" in capsys.readouterr().err
    for name in intact:
        assert _opens(settings, NEW_KEY, file_name=name, sha256=files[name])
    assert sorted(storage.artifact_files()) == sorted(files)  # no temporary file left behind


def test_a_rotation_interrupted_midway_loses_nothing_and_a_second_run_finishes(settings, model_store_dir, monkeypatch):
    files = _files_under_old_key(settings, 3)
    real_replace, replaced = os.replace, []

    def crash_on_second(source, target):
        if len(replaced) == 1:
            raise Crash("killed")
        replaced.append(target)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash_on_second)
    with pytest.raises(Crash):
        keys.artifact_store_rotate()
    monkeypatch.setattr(os, "replace", real_replace)

    assert len(replaced) == 1 and sorted(os.listdir(model_store_dir)) == sorted(files)
    for name, sha256 in files.items():
        assert _opens(settings, NEW_KEY, OLD_KEY, file_name=name, sha256=sha256)
    settings.MODEL_ENCRYPTION_KEYS = (NEW_KEY, OLD_KEY)
    report = keys.artifact_store_rotate()
    assert len(report.rotated) == 2 and len(report.current) == 1 and not report.failed
    for name, sha256 in files.items():
        assert _opens(settings, NEW_KEY, file_name=name, sha256=sha256)


def test_stale_temporary_files_are_removed_and_no_temporary_file_is_rotated(settings, model_store_dir, capsys):
    files = _files_under_old_key(settings, 1)
    stale, fresh = model_store_dir / ".tmp-stale.skops.enc", model_store_dir / ".tmp-fresh.skops.enc"
    stale.write_bytes(b"half written")
    fresh.write_bytes(b"being written")
    an_hour_ago = time.time() - keys.STALE_TMP_SECONDS - 60
    os.utime(stale, (an_hour_ago, an_hour_ago))

    call_command("rotate_model_key")

    output = capsys.readouterr().out
    assert "removed stale temporary file .tmp-stale.skops.enc" in output
    assert f"rotated {next(iter(files))}" in output and "1 rotated, 0 already under the first key, 0 failed." in output
    assert not stale.exists() and fresh.read_bytes() == b"being written"


def test_a_version_file_that_is_not_what_its_version_records_is_not_rotated(settings, model_store_dir, register):
    settings.MODEL_ENCRYPTION_KEYS = (OLD_KEY,)
    version = register()
    setup = next(iter(version.onnx_graphs_sha256))
    version.compiled[setup]["sha256"] = "0" * 64
    version.save(update_fields=["compiled"])
    before = (model_store_dir / version.artifact_file).read_bytes()
    settings.MODEL_ENCRYPTION_KEYS = (NEW_KEY, OLD_KEY)

    report = keys.artifact_store_rotate()

    assert f"setup {setup} ONNX graph" in report.failed[version.artifact_file] and not report.rotated
    assert (model_store_dir / version.artifact_file).read_bytes() == before
