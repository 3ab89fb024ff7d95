from django.apps import AppConfig


class IdpConfig(AppConfig):
    name = "idp"
    verbose_name = "Kunci issuer"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from idp import checks  # noqa: F401  (registers the system checks)
