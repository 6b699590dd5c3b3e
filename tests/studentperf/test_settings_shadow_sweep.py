"""SHADOW_SWEEP_SECONDS, SHADOW_SWEEP_BATCH (issue 19): beat queues the challenger's shadow sweep every 5 s by
default; 0 takes the entry out of the schedule."""
import pytest

from tests.studentperf.test_settings import GOOD_KEY, GOOD_SECRET, load_settings

SHOW = "settings.SHADOW_SWEEP_BATCH, settings.CELERY_BEAT_SCHEDULE.get('shadow-sweep')"
REQUIRED = {"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY}
SWEEP = "'task': 'predictions.tasks.shadow_predictions_sweep'"


def test_the_sweep_is_scheduled_every_5_seconds_by_default():
    result = load_settings(REQUIRED, show=SHOW)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1000 ") and SWEEP in result.stdout
    assert "'schedule': 5.0" in result.stdout and "'options': {'expires': 5.0}" in result.stdout


def test_the_sweep_follows_shadow_sweep_seconds_and_batch():
    result = load_settings({**REQUIRED, "SHADOW_SWEEP_SECONDS": "30", "SHADOW_SWEEP_BATCH": "200"}, show=SHOW)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("200 ") and "'schedule': 30.0" in result.stdout


def test_zero_takes_the_sweep_out_of_the_schedule():
    result = load_settings({**REQUIRED, "SHADOW_SWEEP_SECONDS": "0"}, show=SHOW)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1000 None"


@pytest.mark.parametrize("env", [{"SHADOW_SWEEP_SECONDS": "-1"}, {"SHADOW_SWEEP_BATCH": "0"}])
def test_a_value_out_of_range_stops_start_up_naming_the_variable(env):
    result = load_settings({**REQUIRED, **env}, show=SHOW)

    assert result.returncode != 0 and next(iter(env)) in result.stderr
