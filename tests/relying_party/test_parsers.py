"""The body parsers: JSON nested too deeply and forms with too many fields are a 400, never a 500."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ParseError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from relying_party.parsers import MAX_JSON_DEPTH, FormParser, JSONParser, json_nesting_depth
from relying_party.urls import handler400, handler403, handler404, handler500  # noqa: F401 (this URLconf's handlers)

FORM = "application/x-www-form-urlencoded"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('"[[[["', 0),
        ("{}", 1),
        ('{"a": [1, {"b": null}]}', 3),
        ('["[[[[", "]]]]]", "{"]', 1),
        (r'["\"[[[[", "\\", ["x"]]', 2),  # escaped quotes and backslashes do not end a string
        (r'{"a\"}": {"b": "\u005b"}}', 2),
        (nested(1000), 1000),
        ("[" * 40, 40),  # unbalanced: the decoder would fail, but only after nesting this far
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(text, depth):
    assert json_nesting_depth(text) == depth


def true_depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(true_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(true_depth, value), default=0)
    return 0


# Strings full of what could confuse a scanner: brackets, quotes, backslashes, escapes.
TRICKY_TEXT = st.text(alphabet=st.sampled_from(list('[]{}"\\/ab\n\u00e9\u2028\U0001f600')), max_size=8)
DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TRICKY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TRICKY_TEXT, children, max_size=4),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(document=DOCUMENTS, ensure_ascii=st.booleans(), indent=st.sampled_from([None, 1]))
def test_nesting_depth_is_exact_for_any_valid_json(document, ensure_ascii, indent):
    text = json.dumps(document, ensure_ascii=ensure_ascii, indent=indent)
    assert json_nesting_depth(text) == true_depth(document)


def parse_json(body: str | bytes) -> object:
    raw = body.encode() if isinstance(body, str) else body
    return JSONParser().parse(io.BytesIO(raw), "application/json", {"encoding": "utf-8"})


def test_json_nested_to_the_limit_is_parsed():
    assert parse_json(nested(MAX_JSON_DEPTH)) == json.loads(nested(MAX_JSON_DEPTH))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_json_nested_past_the_limit_is_a_parse_error(depth):
    with pytest.raises(ParseError, match="nested deeper than 32 levels"):
        parse_json(nested(depth))


def test_brackets_inside_strings_do_not_count_against_the_limit():
    assert parse_json(json.dumps({"password": "[" * 5000})) == {"password": "[" * 5000}


@pytest.mark.parametrize("body", [b'{"a": "\xff"}', b"{", b'{"a": NaN}', b'{"a": ' + b"9" * 5000 + b"}"])
def test_malformed_json_is_a_parse_error(body):
    with pytest.raises(ParseError):
        parse_json(body)


def parse_form(fields: int) -> object:
    body = "&".join(f"f{i}=x" for i in range(fields)).encode()
    return FormParser().parse(io.BytesIO(body), FORM, {"encoding": "utf-8"})


def test_a_form_of_a_hundred_fields_is_parsed():
    assert len(parse_form(100)) == 100


def test_a_form_of_more_fields_than_allowed_is_a_parse_error():
    with pytest.raises(ParseError, match="more than 100 fields"):
        parse_form(101)


def test_both_roles_parse_with_these_parsers_by_default():
    assert APIView.parser_classes == [JSONParser, FormParser]


def test_the_parsers_load_nothing_beyond_drfs_own_parsers():
    # The issuer sets these parsers too: they must not drag the verifier, the JWKS cache or its
    # HTTP client along. (DRF's compat module imports `requests` when installed; that is DRF's.)
    script = (
        "import django, sys; from django.conf import settings; settings.configure(); django.setup(); "
        "import rest_framework.parsers; before = set(sys.modules); "
        "import relying_party.parsers; print(sorted(set(sys.modules) - before))"
    )
    environment = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    environment["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "['relying_party', 'relying_party.parsers']", result.stdout + result.stderr


class EchoView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        return Response({"fields": len(request.data)})


class DjangoPostView(APIView):
    """Reads Django's own request.POST and request.body, past DRF's parsers."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        return Response({"fields": len(request._request.POST), "bytes": len(request._request.body)})


def plain_django_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(len(request.POST)))


urlpatterns = [
    path("echo", EchoView.as_view()),
    path("django-post", DjangoPostView.as_view()),
    path("plain", plain_django_view),
]

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "relying_party.errors.exception_handler",
}


@pytest.fixture
def client() -> Client:
    with override_settings(ROOT_URLCONF=__name__, REST_FRAMEWORK=REST_FRAMEWORK, MIDDLEWARE=[]):
        yield Client(raise_request_exception=False)


def test_a_view_answers_400_json_for_deep_json(client):
    response = client.post("/echo", nested(1000), content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested deeper than 32 levels", "code": "parse_error"}


def test_a_view_answers_413_json_for_a_body_past_the_size_cap(client):
    response = client.post("/echo", json.dumps({"x": "y" * 70_000}), content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is too large.", "code": "request_too_large"}


def test_a_view_answers_400_json_for_too_many_form_fields(client):
    response = client.post("/echo", "&".join(f"f{i}=x" for i in range(101)), content_type=FORM)

    assert response.status_code == 400
    assert response.json() == {"detail": "Form body has more than 100 fields.", "code": "parse_error"}


def test_a_view_reading_djangos_request_post_answers_400_for_too_many_fields(client):
    response = client.post("/django-post", "&".join(f"f{i}=x" for i in range(101)), content_type=FORM)

    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "code": "bad_request"}


def test_a_view_reading_djangos_request_body_answers_413_past_the_size_cap(client):
    response = client.post("/django-post", "x=" + "y" * 70_000, content_type=FORM)

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is too large.", "code": "request_too_large"}


def test_a_plain_django_view_reading_request_post_answers_400_json_for_too_many_fields(client):
    response = client.post("/plain", "&".join(f"f{i}=x" for i in range(101)), content_type=FORM)

    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "code": "bad_request"}
