"""What the batch tests share: CSV text from records, the UCI file, and a fake broker (no worker needed).

Import the fixture into a test module (`from tests.predictions.batches.support import broker`) to use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

UCI_FILE = Path(__file__).resolve().parents[3] / "data" / "student-mat.csv"


def csv_text(records: list[dict], *, delimiter: str = ",", extra: dict | None = None) -> str:
    """Records (with any extra columns) as CSV text, the header from the first record."""
    rows = [{**record, **(extra or {})} for record in records]
    names = list(rows[0])
    lines = [delimiter.join(names)]
    lines += [delimiter.join("" if row[name] is None else str(row[name]) for name in names) for row in rows]
    return "\n".join(lines) + "\n"


@dataclass
class FakeBroker:
    up: bool = True
    sent: list[str] = field(default_factory=list)  # the job ids queued, in order


@pytest.fixture
def broker(monkeypatch) -> FakeBroker:
    """The broker faked: `broker_ping` answers `.up`, and batch_job_process.delay records the job id in `.sent`
    instead of sending it. Run a job in-process with predictions.batches.services.batch_job_process(job_id=...)."""
    from predictions import tasks

    fake = FakeBroker()
    monkeypatch.setattr("studentperf.celery.broker_ping", lambda timeout=1.0: fake.up)
    monkeypatch.setattr(tasks.batch_job_process, "delay", lambda job_id: fake.sent.append(job_id))
    return fake
