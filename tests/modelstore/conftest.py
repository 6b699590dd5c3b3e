"""Model store fixtures: a private store directory per test, and registering a version in one call."""
from __future__ import annotations

import pytest



@pytest.fixture(autouse=True)
def model_store_dir(settings, tmp_path):
    settings.MODEL_STORE_DIR = tmp_path / "model-store"
    return settings.MODEL_STORE_DIR


@pytest.fixture
def register(db, small_pipelines):
    """Register the small pipelines (or others) as a new version."""

    from modelstore import services

    def register(pipelines=None, **kwargs):
        kwargs.setdefault("name", "small")
        return services.model_version_register(pipelines=pipelines or small_pipelines, **kwargs)

    return register
