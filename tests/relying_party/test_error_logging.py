"""An unexpected error is logged once, as one short line under the service's logger, at a relying party."""
from __future__ import annotations

import logging

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path, re_path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from relying_party.urls import handler400, handler403, handler404, handler500  # noqa: F401 (this URLconf's handlers)
from relying_party.urls import urlpatterns as relying_party_patterns


def _fail(message: str = "something broke\nacross two lines") -> None:
    # Chained, like most real failures: a full traceback of this is several kilobytes.
    try:
        {}["missing"]
    except KeyError as e:
        raise RuntimeError(message) from e


class FailingView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request: Request, rest: str = "") -> Response:
        _fail(*request.query_params.getlist("message"))
        return Response({})


def failing_django_view(request: HttpRequest) -> HttpResponse:
    _fail()
    return HttpResponse()


urlpatterns = [
    *relying_party_patterns,
    re_path(r"^fail/drf(?P<rest>/.*)?$", FailingView.as_view()),
    path("fail/django", failing_django_view),
]

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "relying_party.errors.exception_handler",
}


@pytest.fixture
def client(caplog) -> Client:
    caplog.set_level(logging.DEBUG, logger="kunci.relying_party")
    with override_settings(ROOT_URLCONF=__name__, REST_FRAMEWORK=REST_FRAMEWORK, DEBUG=False):
        yield Client(raise_request_exception=False)


def errors(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("path", ["/fail/drf", "/fail/django"], ids=["in a DRF view", "outside DRF"])
def test_an_unexpected_error_is_logged_once_as_one_short_line(client, caplog, path):
    response = client.post(path)

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}
    [record] = errors(caplog)  # Django's own "Internal Server Error" record is not written again
    assert record.name == "kunci.relying_party"
    message = record.getMessage()
    assert message.startswith(f"unexpected RuntimeError in POST {path}: something broke across two lines (at ")
    assert "test_error_logging.py" in message and "in _fail" in message
    assert "\n" not in message and record.exc_info is None and len(message) < 400


def test_the_traceback_of_an_unexpected_error_is_kept_at_debug_level(client, caplog):
    client.post("/fail/drf")

    [traceback] = [record for record in caplog.records if record.levelno == logging.DEBUG and record.exc_info]
    assert traceback.name == "kunci.relying_party"
    assert isinstance(traceback.exc_info[1], RuntimeError)


def test_a_long_message_and_path_are_cut_short_in_the_log(client, caplog):
    response = client.post("/fail/drf/" + "p" * 5000 + "?message=" + "m" * 5000)

    assert response.status_code == 500
    [record] = errors(caplog)
    assert record.getMessage().startswith("unexpected RuntimeError in POST /fail/drf/ppp")
    assert len(record.getMessage()) < 800


def test_an_error_outside_any_request_is_logged_without_one(caplog):
    from relying_party.errors import exception_handler

    try:
        _fail()
    except RuntimeError as e:
        response = exception_handler(e, {"view": None})

    assert response.status_code == 500
    [record] = errors(caplog)
    assert record.getMessage().startswith("unexpected RuntimeError in - -: something broke")
