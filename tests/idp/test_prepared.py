"""idp/prepared.py: a queryset's SQL built once, run with a bound value, giving what the queryset gives."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from idp.models import LoginSession, SessionEnd
from idp.prepared import PreparedQuery

pytestmark = pytest.mark.django_db

WITH_USER = PreparedQuery(lambda sid: LoginSession.objects.select_related("user").filter(sid=sid)[:1])


def _fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


@pytest.fixture
def session(user) -> LoginSession:
    now = timezone.now()
    user.last_login = now - timedelta(hours=1)
    user.save()
    return LoginSession.objects.create(
        sid="s-prepared", user=user, created_at=now, auth_time=now - timedelta(minutes=5),
        expires_at=now + timedelta(days=1), ended_at=now, end_reason=SessionEnd.LOGOUT,
    )


def test_it_gives_what_the_queryset_gives_with_its_related_model_and_aware_datetimes(session, django_assert_num_queries):
    expected = LoginSession.objects.select_related("user").get(sid=session.sid)

    with django_assert_num_queries(1):
        found = WITH_USER.first(session.sid)
        user = found.user  # loaded with it: no statement of its own

    assert type(found) is LoginSession and not found._state.adding and found._state.db == "default"
    assert _fields(found) == _fields(expected) and _fields(user) == _fields(expected.user)
    assert found.auth_time.tzinfo is not None and user.last_login.tzinfo is not None
    assert user.is_active is True and model_to_dict(user) == model_to_dict(expected.user)


def test_it_runs_the_querysets_own_sql(session):
    with CaptureQueriesContext(connection) as prepared:
        WITH_USER.first(session.sid)
    with CaptureQueriesContext(connection) as orm:
        list(LoginSession.objects.select_related("user").filter(sid=session.sid)[:1])

    assert prepared.captured_queries[0]["sql"] == orm.captured_queries[0]["sql"]


def test_nothing_found_is_none(session):
    assert WITH_USER.first("no-such-sid") is None


def test_the_value_is_bound_never_spliced_into_the_sql(session, user):
    quoted = LoginSession.objects.create(
        sid="it's \"quoted\"", user=user, created_at=timezone.now(), auth_time=timezone.now(),
    )

    assert WITH_USER.first("x' OR '1'='1") is None
    assert WITH_USER.first(quoted.sid).sid == quoted.sid


@pytest.mark.parametrize("values", [(42,), (), ("s-prepared", "extra")], ids=["not-a-string", "none", "too-many"])
def test_values_that_do_not_fit_are_refused(session, values):
    with pytest.raises(TypeError, match="1 string values"):
        WITH_USER.first(*values)


def test_several_values_are_bound_each_in_its_place_and_all_gives_every_row(session, user):
    now = timezone.now()
    LoginSession.objects.create(sid="s-other", user=user, created_at=now, auth_time=now, end_reason=SessionEnd.REUSE)
    by_reason = PreparedQuery(lambda username, reason: LoginSession.objects.filter(user__username=username, end_reason=reason))

    assert [found.sid for found in by_reason.all("alice", SessionEnd.LOGOUT)] == ["s-prepared"]
    assert [found.sid for found in by_reason.all("alice", SessionEnd.REUSE)] == ["s-other"]
    assert by_reason.all("bob", SessionEnd.REUSE) == []


@pytest.mark.parametrize("build", [
    lambda value: LoginSession.objects.all(),
    lambda value: LoginSession.objects.filter(sid=value, end_reason=value),
    lambda sid, reason: LoginSession.objects.filter(sid=sid),
    # A lookup that makes its own parameter of the value ("value%") cannot take it bound as it is.
    lambda value: LoginSession.objects.filter(sid__startswith=value),
], ids=["unused", "used-twice", "one-of-two-unused", "transformed"])
def test_a_query_must_use_each_value_exactly_once_as_it_is(session, build):
    prepared = PreparedQuery(build)

    with pytest.raises(ValueError, match="exactly once"):
        prepared.first(*[session.sid] * len(prepared._markers))
