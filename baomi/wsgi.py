import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baomi.settings")
application = get_wsgi_application()

# Each server process holds one idle connection to a SQLite database, so that closing a
# request's connection does not checkpoint the WAL every time (see the module).
from baomi.core import walkeeper  # noqa: E402  (after Django is set up)

walkeeper.hold_open()
