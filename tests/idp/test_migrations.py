"""The issuer's migrations describe its models exactly."""
import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_models_need_no_new_migration():
    # Exits non-zero (SystemExit) when a model changed without its migration.
    call_command("makemigrations", "idp", "keys", "--check", "--dry-run", verbosity=0)
