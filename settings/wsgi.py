"""WSGI entry point for both roles; DJANGO_SETTINGS_MODULE chooses which."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.idp")

application = get_wsgi_application()
