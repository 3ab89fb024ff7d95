"""A client's `ui_locales` chooses the language of the issuer's pages for its request (idp/accounts/languages.py)."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client

from idp.accounts.languages import MAX_TAGS, ui_language
from tests.conftest import PASSWORD
from tests.idp.oauth.conftest import REDIRECT_URI, auth_params, register

pytestmark = pytest.mark.django_db

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("ui_locales, language", [
    ("ko", "ko"),
    ("ko-KR", "ko"),
    ("ID", "id"),
    ("fr-CA ru-RU ko", "ru"),
    ("  en-GB  ", "en"),
    ("zh-Hant fr", None),
    ("", None),
    (None, None),
    ("k" * 1000, None),
    (" ".join(["fr"] * MAX_TAGS + ["ko"]), None),
])
def test_the_first_tag_kunci_speaks_is_the_language(ui_locales, language):
    # OIDC Core §3.1.2.1: space-separated BCP47 tags in order of preference.
    assert ui_language(ui_locales) == language


@pytest.fixture
def browser() -> Client:
    """A Russian-speaking browser, not signed in."""
    return Client(HTTP_ACCEPT=HTML, HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9")


@pytest.fixture
def third_party(keyring):
    return register("Third-party app", trusted=False)


def _lang(response) -> str:
    return re.search(r'<html lang="([^"]+)">', response.content.decode()).group(1)


def _sign_in_page(browser: Client, registered, **params: str):
    redirect = browser.get("/authorize", auth_params(registered, **params))
    assert redirect.status_code == 302 and redirect["Location"].startswith("/signin?next=")
    return redirect["Location"], browser.get(redirect["Location"])


def test_ui_locales_wins_over_accept_language_through_the_sign_in_and_consent_pages(browser, user, third_party):
    signin_url, page = _sign_in_page(browser, third_party, ui_locales="ko-KR en")

    assert _lang(page) == "ko" and page["Content-Language"] == "ko"
    html = page.content.decode()
    assert "<h1>로그인</h1>" in html and "<strong>Third-party app</strong> 서비스를 계속 이용하려면" in html

    next_url = parse_qs(urlsplit(signin_url).query)["next"][0]
    refused = browser.post(signin_url, {"username": "alice", "password": "wrong", "next": next_url})
    assert refused.status_code == 400 and _lang(refused) == "ko"
    assert "해당 사용자 이름과 비밀번호로 로그인할 수 없습니다." in refused.content.decode()

    signed_in = browser.post(signin_url, {"username": "alice", "password": PASSWORD, "next": next_url})
    consent = browser.get(signed_in["Location"])

    assert _lang(consent) == "ko"
    html = unescape(consent.content.decode())
    assert "Third-party app의 접근을 허용하시겠습니까?" in html
    assert "<li>이름 및 사용자 이름</li>" in html and "<li>이메일 주소</li>" in html
    assert 'name="authorization_request"' in html and "ui_locales=ko-KR+en" in html
    # The consent decision posts the request again, ui_locales in it: its answer is the client's redirect.
    request = re.search(r'name="authorization_request" value="([^"]+)"', html).group(1)
    decided = browser.post("/authorize/consent", {"authorization_request": request, "decision": "approve"})
    assert decided.status_code == 302 and decided["Location"].startswith(REDIRECT_URI)


def test_without_ui_locales_the_pages_follow_accept_language(browser, third_party):
    _signin_url, page = _sign_in_page(browser, third_party)

    assert _lang(page) == "ru" and "<h1>Вход</h1>" in page.content.decode()


def test_a_ui_locales_kunci_does_not_speak_leaves_accept_language(browser, third_party):
    _signin_url, page = _sign_in_page(browser, third_party, ui_locales="fr-CA de")

    assert _lang(page) == "ru"


def test_the_language_picked_on_the_switcher_wins_over_ui_locales(browser, third_party):
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "id"

    _signin_url, page = _sign_in_page(browser, third_party, ui_locales="ko")

    assert _lang(page) == "id" and "<h1>Masuk</h1>" in page.content.decode()


def test_the_sign_in_page_reads_ui_locales_only_from_an_authorization_request(browser):
    page = browser.get("/signin", {"next": "/signed-in?ui_locales=ko"})

    assert _lang(page) == "ru"


def test_the_consent_pages_switcher_returns_to_the_same_authorization_request(browser, user, third_party):
    browser.post("/signin", {"username": "alice", "password": PASSWORD})
    params = auth_params(third_party, ui_locales="ko", prompt="consent")

    # A client may send the request by POST (OIDC Core §3.1.2.1); the switcher comes back by GET.
    consent = browser.post("/authorize", params)

    form = re.search(r'<form class="languages".*?</form>', consent.content.decode(), re.S).group(0)
    next_url = unescape(re.search(r'name="next" value="([^"]+)"', form).group(1))
    assert urlsplit(next_url).path == "/authorize"
    assert {name: values[0] for name, values in parse_qs(urlsplit(next_url).query).items()} == params


def test_an_authorization_error_page_speaks_ui_locales(browser):
    page = browser.get("/authorize", {"client_id": "nobody", "redirect_uri": REDIRECT_URI, "ui_locales": "id"})

    assert page.status_code == 400 and _lang(page) == "id"
    assert "<h1>Aplikasi tidak dikenal</h1>" in page.content.decode()


def test_the_logout_confirmation_speaks_ui_locales_and_carries_it_to_the_page_after(browser, user, keyring):
    # RP-Initiated Logout 1.0 §2: the logout request may carry ui_locales too.
    browser.post("/signin", {"username": "alice", "password": PASSWORD})

    confirm = browser.get("/logout", {"ui_locales": "ko"})

    html = confirm.content.decode()
    assert _lang(confirm) == "ko" and "이 브라우저의 Kunci에서 로그아웃하시겠습니까?" in html
    assert '<input type="hidden" name="ui_locales" value="ko">' in html
    done = browser.post("/logout/confirm", {"ui_locales": "ko"})
    assert _lang(done) == "ko" and "<h1>로그아웃 완료</h1>" in done.content.decode()


def test_a_hostile_ui_locales_is_escaped_where_the_logout_page_carries_it(browser, user):
    browser.post("/signin", {"username": "alice", "password": PASSWORD})

    page = browser.get("/logout", {"ui_locales": '"><script>alert(1)</script>'})

    html = page.content.decode()
    assert page.status_code == 200 and _lang(page) == "ru" and "<script>" not in html
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
