from django.apps import AppConfig


class RelyingPartyConfig(AppConfig):
    name = "relying_party"
    verbose_name = "Kunci relying party"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system checks, and the settings receiver through conf.
        from relying_party import checks  # noqa: F401
