"""RETRAIN_INTERVAL_DAYS: off by default; when set, beat queues the retraining task that often."""
import pytest

from tests.studentperf.test_settings import GOOD_KEY, GOOD_SECRET, load_settings

SHOW = "settings.RETRAIN_INTERVAL_DAYS, settings.CELERY_BEAT_SCHEDULE.get('retrain')"
REQUIRED = {"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY}


@pytest.mark.parametrize("env", [{}, {"RETRAIN_INTERVAL_DAYS": "0"}])
def test_retraining_is_not_scheduled_by_default(env):
    result = load_settings({**REQUIRED, **env}, show=SHOW)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0.0 None"


def test_retraining_is_scheduled_every_retrain_interval_days():
    result = load_settings({**REQUIRED, "RETRAIN_INTERVAL_DAYS": "7"}, show=SHOW)

    assert result.returncode == 0, result.stderr
    assert "'task': 'predictions.tasks.model_retrain'" in result.stdout
    assert "'schedule': datetime.timedelta(days=7)" in result.stdout
    assert "'kwargs': {'scheduled': True}" in result.stdout  # a run that cannot train raises an alert


def test_a_negative_interval_stops_start_up_naming_the_variable():
    result = load_settings({**REQUIRED, "RETRAIN_INTERVAL_DAYS": "-1"}, show=SHOW)

    assert result.returncode != 0 and "RETRAIN_INTERVAL_DAYS" in result.stderr
