"""Kunci's user model: one account per email address, in any case."""
import pytest
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.db import IntegrityError, transaction

from idp.models import User

pytestmark = pytest.mark.django_db


def test_the_issuer_uses_kuncis_user_model():
    assert get_user_model() is User


def test_an_email_names_at_most_one_account_whatever_its_case():
    User.objects.create_user("alice", email="alice@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("alice2", email="ALICE@Example.COM")
    assert User.objects.count() == 1


def test_accounts_without_an_email_may_be_many():
    User.objects.create_user("service-a")
    User.objects.create_user("service-b")

    assert User.objects.filter(email="").count() == 2


def test_a_user_is_found_by_email_in_any_case():
    alice = User.objects.create_user("alice", email="alice@example.com")

    assert User.objects.get_by_email(" Alice@EXAMPLE.com ") == alice
    assert User.objects.get_by_email("bob@example.com") is None
    assert User.objects.get_by_email("") is None


def test_a_current_database_passes_the_schema_check():
    assert [m.id for m in run_checks(databases=["default"]) if m.id == "idp.E004"] == []


def test_a_database_from_before_the_user_model_is_refused_with_the_way_out(monkeypatch):
    # What a database made by an earlier Kunci looks like: the issuer's first migration is
    # recorded as applied, but Kunci's user table does not exist.
    monkeypatch.setattr(User._meta, "db_table", "idp_user_from_the_future")

    errors = [m for m in run_checks(databases=["default"]) if m.id == "idp.E004"]

    assert len(errors) == 1
    assert "make clean" in errors[0].hint
