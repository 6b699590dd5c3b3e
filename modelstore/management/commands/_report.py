"""How the model commands print a version."""
from __future__ import annotations

import json

from django.core.management.base import CommandError

from modelstore.models import ModelVersion


def version_report(version: ModelVersion) -> str:
    """A version's number, name, status and metrics; raises CommandError for a rejected version."""
    if version.status == ModelVersion.Status.REJECTED:
        raise CommandError(f"v{version.version} {version.name!r} was rejected: {version.rejection_reason}")
    return (
        f"v{version.version} {version.name!r}: {version.status} (package sha256 {version.artifact_sha256})\n"
        f"metrics: {json.dumps(version.metrics, indent=2)}"
    )
