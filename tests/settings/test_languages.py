"""The language of an answer (settings/languages.py): pages follow the switcher, then Accept-Language; the JSON API is English."""
from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# The sign-in page's heading and username label in each language.
SIGN_IN = {
    "en": ("Sign in", "Username or email"),
    "id": ("Masuk", "Nama pengguna atau email"),
    "ru": ("Вход", "Имя пользователя или электронная почта"),
    "ko": ("로그인", "사용자 이름 또는 이메일"),
}


@pytest.fixture
def web() -> Client:
    return Client(enforce_csrf_checks=True, HTTP_ACCEPT=HTML)


def _switcher(html: str) -> str:
    found = re.search(r'<form class="languages" method="post" action="/language">(.*?)</form>', html, re.S)
    assert found, html
    return found.group(1)


def _assert_sign_in_page_in(page, language: str) -> None:
    heading, label = SIGN_IN[language]
    html = page.content.decode()
    assert page.status_code in (200, 400)
    assert f'<html lang="{language}">' in html
    assert f"<h1>{heading}</h1>" in html and f">{label}</label>" in html
    assert page["Content-Language"] == language


# --- Accept-Language -----------------------------------------------------------------------------


@pytest.mark.parametrize("language, accept_language", [
    ("en", "en-US,en;q=0.9"),
    ("id", "id-ID,id;q=0.9,en-US;q=0.8"),
    ("ru", "ru-RU,ru;q=0.9,en;q=0.8"),
    ("ko", "ko-KR,ko;q=0.9"),
])
def test_the_sign_in_page_speaks_the_browsers_language(web, language, accept_language):
    page = web.get("/signin", HTTP_ACCEPT_LANGUAGE=accept_language)

    _assert_sign_in_page_in(page, language)
    assert "Accept-Language" in page["Vary"]


def test_the_first_language_kunci_speaks_wins_and_english_is_the_last_resort(web):
    _assert_sign_in_page_in(web.get("/signin", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,ko;q=0.5"), "ko")
    _assert_sign_in_page_in(web.get("/signin", HTTP_ACCEPT_LANGUAGE="fr-FR,de;q=0.9"), "en")
    _assert_sign_in_page_in(web.get("/signin"), "en")


@pytest.mark.parametrize("path, title", [
    ("/signout", "<title>로그아웃 · Kunci</title>"),
    ("/no/such/page", "<h1>페이지를 찾을 수 없습니다</h1>"),
])
def test_other_pages_and_error_pages_speak_it_too(web, path, title):
    page = web.get(path, HTTP_ACCEPT_LANGUAGE="ko")

    html = page.content.decode()
    assert '<html lang="ko">' in html and title in html
    assert "본문으로 건너뛰기" in html  # the layout's own strings too


def test_form_errors_are_in_the_pages_language(web, user, keyring):
    web.get("/signin", HTTP_ACCEPT_LANGUAGE="ru")
    token = web.cookies[settings.CSRF_COOKIE_NAME].value

    page = web.post("/signin", {"username": "alice", "password": "wrong", "csrfmiddlewaretoken": token},
                    HTTP_ACCEPT_LANGUAGE="ru")

    _assert_sign_in_page_in(page, "ru")
    assert "Не удалось войти с этим именем пользователя и паролем." in page.content.decode()


# --- The JSON API stays English ----------------------------------------------------------------------


def test_the_json_api_answers_in_english_whatever_the_client_speaks(keyring):
    api = Client(HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9")

    unauthenticated = api.get("/api/me")
    invalid = api.post("/api/login", {"username": ""}, content_type="application/json")

    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["detail"] == "Authentication credentials were not provided."
    assert invalid.status_code == 400
    assert invalid.json()["fields"]["password"] == ["This field is required."]
    for response in (unauthenticated, invalid):
        assert "Content-Language" not in response
        assert "Accept-Language" not in response.get("Vary", "")


def test_the_public_documents_do_not_vary_by_language(keyring):
    for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration"):
        response = Client().get(path, HTTP_ACCEPT_LANGUAGE="ko")

        assert response.status_code == 200
        assert "Content-Language" not in response and "Accept-Language" not in response.get("Vary", "")


def test_the_language_ends_with_its_request(web):
    web.get("/signin", HTTP_ACCEPT_LANGUAGE="ko")

    assert translation.get_language() == settings.LANGUAGE_CODE


# --- The switcher --------------------------------------------------------------------------------------


def test_every_page_has_a_switcher_that_is_a_csrf_protected_form_without_script(web):
    page = web.get("/signin", {"next": "/signed-in"}, HTTP_ACCEPT_LANGUAGE="id")

    html = page.content.decode()
    form = _switcher(html)
    assert 'name="csrfmiddlewaretoken"' in form
    assert '<input type="hidden" name="next" value="/signin?next=%2Fsigned-in">' in form
    # One submit button a language, each named in its own language.
    buttons = re.findall(r'<button type="submit" name="language" value="(\w+)" lang="(\w+)"[^>]*>([^<]+)</button>', form)
    assert buttons == [("en", "en", "English"), ("id", "id", "Bahasa Indonesia"), ("ru", "ru", "Русский"), ("ko", "ko", "한국어")]
    assert re.search(r'value="id"[^>]*aria-current="true"', form)
    assert "<script" not in html


def _switch(web: Client, language: str, **data: str):
    web.get("/signin")
    token = web.cookies[settings.CSRF_COOKIE_NAME].value
    return web.post("/language", {"language": language, "csrfmiddlewaretoken": token, **data})


def test_the_switcher_sets_the_language_cookie_and_returns_to_the_page(web):
    response = _switch(web, "ko", next="/signin?next=%2Fsigned-in")

    assert response.status_code == 302 and response["Location"] == "/signin?next=%2Fsigned-in"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert settings.LANGUAGE_COOKIE_NAME == "kunci_language" and cookie.value == "ko"
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["max-age"] == 365 * 24 * 60 * 60
    # The person's choice wins over the browser's Accept-Language.
    _assert_sign_in_page_in(web.get("/signin", HTTP_ACCEPT_LANGUAGE="ru"), "ko")


def test_the_switcher_refuses_a_post_without_the_csrf_token(web):
    web.get("/signin")

    response = web.post("/language", {"language": "ko", "next": "/signin"})

    assert response.status_code == 403 and settings.LANGUAGE_COOKIE_NAME not in response.cookies
    _assert_sign_in_page_in(web.get("/signin"), "en")


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"])
def test_the_switcher_returns_only_to_this_site(web, next_url):
    response = _switch(web, "ru", next=next_url)

    assert response.status_code == 302 and response["Location"] == "/"


def test_a_language_kunci_does_not_serve_cannot_be_chosen(web):
    _switch(web, "fr", next="/signin")

    _assert_sign_in_page_in(web.get("/signin"), "en")


def test_a_page_that_answered_a_form_lets_the_switcher_return_by_its_referer(web, user, keyring):
    web.get("/signin")
    token = web.cookies[settings.CSRF_COOKIE_NAME].value

    page = web.post("/signin", {"username": "alice", "password": PASSWORD + "!", "csrfmiddlewaretoken": token})

    # No `next`: Django's set_language returns to the same-origin page the form was on.
    assert page.status_code == 400 and 'name="next"' not in _switcher(page.content.decode())
