"""The WSGI entry point of the web processes (gunicorn -c deploy/gunicorn.conf.py studentperf.wsgi)."""
import os

from studentperf.threads import threads_configure

threads_configure()  # before numpy is imported: OpenMP and BLAS read it once (studentperf/threads.py)

from django.core.wsgi import get_wsgi_application  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studentperf.settings")
application = get_wsgi_application()
