"""``gunicorn examples.django_api.wsgi`` serves it."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_api.settings")
application = get_wsgi_application()
