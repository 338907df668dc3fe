"""Settings of a Django "orders" API that trusts a running ``sessionjwt serve``.

The resource server is configured by the same ``RS_*`` variables as
``examples/resource_server.py``; with ``RS_REDIS_URL`` a revoke at the issuer is refused by the
very next request, in every worker::

    sessionjwt clients create orders            # prints the client id and secret
    RS_CLIENT_ID=… RS_CLIENT_SECRET=… gunicorn --workers 2 examples.django_api.wsgi
"""

from __future__ import annotations

import os
import secrets

from sessionjwt.resource_server import ResourceServerConfig

# Django signs nothing this API uses (no sessions, no CSRF forms), but refuses to start without.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(32)
DEBUG = False
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
ROOT_URLCONF = "examples.django_api.urls"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "rest_framework"]
DATABASES: dict[str, dict[str, str]] = {}  # the issuer holds the users and sessions
USE_TZ = True

MIDDLEWARE = ["sessionjwt.resource_server.django.SessionJWTMiddleware"]
SESSIONJWT = ResourceServerConfig.from_env()

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["sessionjwt.resource_server.drf.SessionJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["sessionjwt.resource_server.drf.LoginRequired"],
    "EXCEPTION_HANDLER": "sessionjwt.resource_server.drf.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
