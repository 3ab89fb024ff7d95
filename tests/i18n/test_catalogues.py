"""Every string Kunci marks for translation is translated in every catalogue, and every .mo is compiled from its .po.

`make messages` updates the catalogues (README, "Languages"); these tests say what is left to do.
The second half tests the checks themselves on strings made up for the purpose.
"""
from __future__ import annotations

import shutil
import textwrap

import polib
import pytest
from django.conf import settings

from tests.i18n.catalogues import (
    ROOT,
    Message,
    UnreadableMark,
    catalogue_path,
    marked_messages,
    missing_translations,
    python_messages,
    stale_compilation,
    template_messages,
    unused_entries,
)

LANGUAGES = [code for code, _name in settings.LANGUAGES]
# English is the msgids' own language: an empty msgstr means the msgid itself.
IDENTITY = {settings.LANGUAGE_CODE}


@pytest.fixture(scope="module")
def marked() -> list[Message]:
    return marked_messages()


def _catalogue(language: str) -> polib.POFile:
    return polib.pofile(str(catalogue_path(language)))


def test_the_languages_are_english_indonesian_russian_and_korean():
    assert LANGUAGES == ["en", "id", "ru", "ko"] and settings.LANGUAGE_CODE == "en"
    assert settings.LOCALE_PATHS == [ROOT / "locale"]


def test_the_pages_mark_their_strings_for_translation(marked):
    keys = {message.key for message in marked}

    # One from each kind of source: a template tag with a context, a blocktranslate, Python's gettext and ngettext.
    assert {("button", "Sign in"), (None, "Allow %(client_name)s?"), (None, "Page not found")} <= keys
    assert any(message.plural == "Too many failed sign-ins. Try again in %(wait)d seconds." for message in marked)
    assert len(keys) > 80


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_string_is_translated(marked, language):
    assert missing_translations(marked, _catalogue(language), identity=language in IDENTITY) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_catalogue_keeps_strings_the_code_no_longer_marks(marked, language):
    assert unused_entries(marked, _catalogue(language)) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalogue_names_its_language_and_plural_forms(language):
    metadata = _catalogue(language).metadata

    assert metadata["Language"] == language
    assert metadata["Plural-Forms"].startswith("nplurals=")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_compiled_catalogue_is_up_to_date_with_its_po(language):
    assert stale_compilation(catalogue_path(language)) == []


def test_every_catalogue_is_a_language_kunci_serves():
    on_disk = sorted(path.name for path in (ROOT / "locale").iterdir() if path.is_dir())

    assert on_disk == sorted(LANGUAGES)


# --- The checks themselves -----------------------------------------------------------------------


def test_a_new_untranslated_string_in_a_template_is_caught(tmp_path):
    # A copy of Kunci's sources, with one new string on the sign-in page.
    for name in ("idp", "templates"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    page = tmp_path / "idp/templates/kunci/accounts/signin.html"
    page.write_text(page.read_text().replace("{% endblock %}", '<p>{% translate "Remember this browser" %}</p>{% endblock %}', 1))

    for language in ("id", "ru", "ko"):
        problems = missing_translations(marked_messages(tmp_path), _catalogue(language), identity=False)
        assert problems == ["no entry for 'Remember this browser' at idp/templates/kunci/accounts/signin.html"]


def test_a_new_untranslated_string_in_python_is_caught(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app/__init__.py").write_text("")
    (tmp_path / "app/views.py").write_text('from django.utils.translation import gettext as _\nTITLE = _("Sign in")\nNEW = _("Account locked")\n')
    (tmp_path / "templates").mkdir()

    problems = missing_translations(marked_messages(tmp_path), _catalogue("ko"), identity=False)

    assert problems == ["no entry for 'Account locked' at app/views.py:3"]


def test_templates_give_the_msgids_rendering_looks_up_with_contexts_and_plurals():
    source = textwrap.dedent("""\
        {% load i18n %}
        {% translate "50% off" %}
        {% translate 'Save' context "button" as save %}
        {% blocktranslate with name=user.name %}Hello {{ name }}{% endblocktranslate %}
        {% blocktranslate count counter=items|length context "cart" %}One {{ thing }}{% plural %}{{ counter }} things{% endblocktranslate %}
        {% blocktranslate trimmed %}
          Two
          lines
        {% endblocktranslate %}
        {{ value|default:_("Nothing") }}
        {% translate title %}
        """)

    messages = template_messages(source)

    assert [(m.context, m.msgid, m.plural) for m in messages] == [
        (None, "50%% off", None),
        ("button", "Save", None),
        (None, "Hello %(name)s", None),
        ("cart", "One %(thing)s", "%(counter)s things"),
        (None, "Two lines", None),
        (None, "Nothing", None),
    ]


def test_python_calls_are_read_under_every_name_gettext_is_imported_by():
    source = textwrap.dedent("""\
        from django.utils import translation
        from django.utils.translation import gettext_lazy as _l, npgettext, pgettext

        A = _l("Lazy")
        B = npgettext("mail", "One message", "%(n)d messages", 3)
        C = pgettext("verb", "Open")
        D = translation.ngettext("One day", "%(n)d days", 2)
        E = _("Not imported here, so not a gettext call")
        """)

    messages = python_messages(source, "module.py")

    assert sorted(((m.context, m.msgid, m.plural) for m in messages), key=lambda found: found[1]) == [
        (None, "Lazy", None),
        (None, "One day", "%(n)d days"),
        ("mail", "One message", "%(n)d messages"),
        ("verb", "Open", None),
    ]


@pytest.mark.parametrize("call", ['_(f"Hello {name}")', "_(TITLE)", '_("Hello %s" % name)'])
def test_a_mark_no_catalogue_can_hold_is_an_error(call):
    with pytest.raises(UnreadableMark, match="module.py:2"):
        python_messages(f"from django.utils.translation import gettext as _\n{call}\n", "module.py")


def _catalogue_of(entries: list[polib.POEntry], plural_forms: str = "nplurals=1; plural=0;") -> polib.POFile:
    catalogue = polib.POFile()
    catalogue.metadata = {"Language": "ko", "Content-Type": "text/plain; charset=UTF-8", "Plural-Forms": plural_forms}
    catalogue.extend(entries)
    return catalogue


def test_empty_fuzzy_and_misplaced_translations_are_caught():
    messages = [
        Message("Empty"), Message("Fuzzy"), Message("Hello %(name)s"), Message("Bye %(name)s"),
        Message("One day", "%(n)d days"), Message("Sign in", context="button"),
    ]
    catalogue = _catalogue_of([
        polib.POEntry(msgid="Empty", msgstr=""),
        polib.POEntry(msgid="Fuzzy", msgstr="흐림", flags=["fuzzy"]),
        polib.POEntry(msgid="Hello %(name)s", msgstr="안녕하세요 %(nmae)s"),
        polib.POEntry(msgid="Bye %(name)s", msgstr="안녕히 가십시오"),
        polib.POEntry(msgid="One day", msgid_plural="%(n)d days", msgstr_plural={0: ""}),
        polib.POEntry(msgid="Sign in", msgstr="로그인"),  # no context: not the button's entry
    ])

    problems = missing_translations(messages, catalogue, identity=False)

    assert [problem.split(" ")[:4] for problem in problems] == [
        ["no", "translation", "of", "'Empty'"],
        ["the", "translation", "of", "'Fuzzy'"],
        ["the", "translation", "of", "'Hello"],
        ["the", "translation", "of", "'Bye"],
        ["no", "translation", "of", "'One"],
        ["no", "entry", "for", "'Sign"],
    ]
    # English may leave msgstr empty: the msgid is the text.
    assert missing_translations([Message("Empty")], catalogue, identity=True) == []


def test_a_plural_needs_every_form_of_the_language():
    russian = "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"
    entry = polib.POEntry(msgid="%(n)d day", msgid_plural="%(n)d days", msgstr_plural={0: "%(n)d день", 1: "%(n)d дня"})

    problems = missing_translations([Message("%(n)d day", "%(n)d days")], _catalogue_of([entry], russian), identity=False)

    assert problems == ["no translation of '%(n)d day' at "]


def test_a_stale_or_missing_mo_is_caught(tmp_path):
    catalogue = _catalogue_of([polib.POEntry(msgid="Open", msgstr="열기", msgctxt="verb")])
    po, mo = tmp_path / "django.po", tmp_path / "django.mo"
    catalogue.save(str(po))
    assert stale_compilation(po) == [f"{mo} is missing"]
    catalogue.save_as_mofile(str(mo))
    assert stale_compilation(po) == []

    catalogue[0].msgstr = "여십시오"
    catalogue.append(polib.POEntry(msgid="Close", msgstr="닫기"))
    catalogue.save(str(po))

    assert stale_compilation(po) == [
        f"{mo}: 'verb\\x04Open' is '열기', the .po says '여십시오'",
        f"{mo}: 'Close' is None, the .po says '닫기'",
    ]
