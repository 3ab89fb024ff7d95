from django.apps import AppConfig


class IdpConfig(AppConfig):
    name = "idp"
    verbose_name = "Kunci issuer"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from idp import checks  # noqa: F401  (registers the system checks)
        from idp import signals  # noqa: F401  (ends a deleted user's sessions first)
        from idp.oauth import client_cache  # noqa: F401  (forgets a client saved or deleted here)

        # DRF's views module imports DEFAULT_AUTHENTICATION_CLASSES (idp.authentication) while it
        # loads, and idp.authentication reaches DRF's views through idp.errors: the cycle resolves
        # only when DRF's views load first, so they load here, before anything imports the issuer.
        import rest_framework.views  # noqa: F401
