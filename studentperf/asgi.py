"""The ASGI entry point (the same thread settings as WSGI)."""
import os

from studentperf.threads import threads_configure

threads_configure()  # before numpy is imported (studentperf/threads.py)

from django.core.asgi import get_asgi_application  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studentperf.settings")
application = get_asgi_application()
