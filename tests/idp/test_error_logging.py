"""An unexpected error at the issuer is logged once, as one short line, under `kunci.idp`."""
from __future__ import annotations

import logging

import pytest
from django.test import Client, override_settings
from django.urls import path, re_path

from idp.urls import handler400, handler403, handler404, handler500  # noqa: F401 (this URLconf's handlers)
from idp.urls import urlpatterns as issuer_patterns
from tests.relying_party.test_error_logging import FailingView, errors, failing_django_view

urlpatterns = [
    *issuer_patterns,
    re_path(r"^fail/drf(?P<rest>/.*)?$", FailingView.as_view()),
    path("fail/django", failing_django_view),
]


@pytest.fixture
def client(caplog) -> Client:
    caplog.set_level(logging.DEBUG, logger="kunci")
    # The issuer's REST_FRAMEWORK (settings.test) is in force: its exception handler is the one tested.
    with override_settings(ROOT_URLCONF=__name__, DEBUG=False):
        yield Client(raise_request_exception=False)


@pytest.mark.parametrize("path", ["/fail/drf", "/fail/django"], ids=["in a DRF view", "outside DRF"])
def test_an_unexpected_error_is_logged_once_under_the_issuers_name(client, caplog, path):
    response = client.post(path)

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}
    [record] = errors(caplog)
    assert record.name == "kunci.idp"
    message = record.getMessage()
    assert message.startswith(f"unexpected RuntimeError in POST {path}: something broke across two lines (at ")
    assert "\n" not in message and record.exc_info is None and len(message) < 400
    [traceback] = [record for record in caplog.records if record.levelno == logging.DEBUG and record.exc_info]
    assert traceback.name == "kunci.idp"


def test_a_hostile_body_is_a_400_and_logs_no_error(client, caplog):
    response = client.post("/api/login", "[" * 1000 + "]" * 1000, content_type="application/json")

    assert response.status_code == 400
    assert errors(caplog) == []


def _console_handlers(name: str) -> list[logging.StreamHandler]:
    """Return the settings' stream handlers that records of logger `name` reach (not pytest's)."""
    handlers, logger = [], logging.getLogger(name)
    while logger is not None:
        handlers += [h for h in logger.handlers if type(h).__module__ == "logging"]
        logger = logger.parent if logger.propagate else None
    return handlers


def test_a_refused_host_is_logged_as_one_line_without_a_traceback():
    import io

    stream = io.StringIO()
    handlers = _console_handlers("django.security.DisallowedHost")
    previous = [handler.setStream(stream) for handler in handlers]
    try:
        response = Client().get("/.well-known/jwks.json", HTTP_HOST="attacker.example")
    finally:
        for handler, old in zip(handlers, previous):
            handler.setStream(old)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    logged = stream.getvalue()
    assert "Invalid HTTP_HOST header: 'attacker.example'" in logged
    assert "Traceback" not in logged and logged.count("\n") == 1
