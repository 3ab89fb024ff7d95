"""The issuer's admin pages; each package registers its own models."""
from idp.oauth import admin as oauth_admin  # noqa: F401  (registers the client registry)
