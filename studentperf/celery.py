"""Celery application. The broker is Redis (REDIS_URL); tasks arrive with the monitoring issue."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studentperf.settings")

app = Celery("studentperf")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
