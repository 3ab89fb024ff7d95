"""An admin site holding only the client registry, for testing its ModelAdmin on its own."""
from django.apps import apps
from django.contrib.admin import AdminSite
from django.urls import path

from idp.oauth.admin import ClientAdmin
from idp.oauth.models import Client


class RegistrySite(AdminSite):
    def get_log_entries(self, request):
        # The admin's history (LogEntry) exists only when django.contrib.admin is installed.
        return super().get_log_entries(request) if apps.is_installed("django.contrib.admin") else []


site = RegistrySite(name="admin")
site.register(Client, ClientAdmin)

urlpatterns = [path("admin/", site.urls)]
