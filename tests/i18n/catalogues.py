"""What Kunci's code marks for translation, and whether every catalogue under locale/ translates it.

Pure Python, no gettext tools:

- Templates are tokenized by Django's template Lexer and compiled by its Parser; a `{% translate %}`
  or `{% blocktranslate %}` node gives the msgid, plural and context exactly as rendering looks
  them up (`BlockTranslateNode.render_token_list`), and `_("...")` constants in variables and tag
  arguments are found in the Lexer's tokens.
- Python is read with `ast`: calls of gettext, pgettext, ngettext, npgettext and their lazy and noop
  forms, under whatever names a module imports them (`gettext as _`) or through the
  `translation` module.
- Catalogues are read with polib; a compiled .mo with the standard library's gettext.
"""
from __future__ import annotations

import ast
import gettext
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polib
from django.template import Template, engines
from django.template.base import Lexer, Origin, TokenType
from django.templatetags.i18n import BlockTranslateNode, TranslateNode
from django.utils.text import unescape_string_literal

ROOT = Path(__file__).resolve().parents[2]
# Packages whose code is not Kunci's pages: the tests themselves and the benchmarks.
NOT_SERVED = {"tests", "bench"}

# name -> positions of (context, msgid, plural) among the call's arguments.
GETTEXT_FUNCTIONS: dict[str, tuple[int | None, int, int | None]] = {
    "gettext": (None, 0, None),
    "gettext_lazy": (None, 0, None),
    "gettext_noop": (None, 0, None),
    "pgettext": (0, 1, None),
    "pgettext_lazy": (0, 1, None),
    "ngettext": (None, 0, 1),
    "ngettext_lazy": (None, 0, 1),
    "npgettext": (0, 1, 2),
    "npgettext_lazy": (0, 1, 2),
}
TRANSLATION_MODULE = "django.utils.translation"

# `_("...")` in a template variable or tag argument (django.template.base's constant_string).
_TEMPLATE_CONSTANT = re.compile(r"""_\(("[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*')\)""")
_PLACEHOLDER = re.compile(r"%\((\w+)\)")


@dataclass(frozen=True)
class Message:
    """One string marked for translation, and where (not part of its identity)."""

    msgid: str
    plural: str | None = None
    context: str | None = None
    where: str = field(default="", compare=False)

    @property
    def key(self) -> tuple[str | None, str]:
        return self.context, self.msgid


class UnreadableMark(Exception):
    """A call marks something for translation that is not a string literal: no catalogue can hold it."""


# --- Where the marked strings are ----------------------------------------------------------------


def source_files(root: Path = ROOT) -> tuple[list[Path], list[Path]]:
    """Return Kunci's (templates, Python files) under `root`: every served package, and templates/."""
    packages = [path for path in sorted(root.iterdir()) if (path / "__init__.py").is_file() and path.name not in NOT_SERVED]
    templates = sorted(path for path in (root / "templates").rglob("*") if path.is_file())
    python = []
    for package in packages:
        for path in sorted(package.rglob("*")):
            if not path.is_file() or "migrations" in path.parts or "__pycache__" in path.parts:
                continue
            if "templates" in path.relative_to(package).parts:
                templates.append(path)
            elif path.suffix == ".py":
                python.append(path)
    return templates, python


def marked_messages(root: Path = ROOT) -> list[Message]:
    """Return every string Kunci's templates and Python files under `root` mark for translation."""
    templates, python = source_files(root)
    messages = []
    for path in templates:
        messages += template_messages(path.read_text(), str(path.relative_to(root)))
    for path in python:
        messages += python_messages(path.read_text(), str(path.relative_to(root)))
    return messages


# --- Templates -------------------------------------------------------------------------------------


def template_messages(source: str, where: str = "<template>") -> list[Message]:
    """Return the strings the template `source` marks: translate, blocktranslate and `_()` constants."""
    template = Template(source, origin=Origin(where), engine=engines["django"].engine)
    messages = []
    for node in template.nodelist.get_nodes_by_type(TranslateNode):
        literal = getattr(node.filter_expression.var, "literal", None)
        if isinstance(literal, str):  # `{% translate variable %}` marks nothing itself
            # Variable.resolve doubles "%" before it looks the msgid up.
            messages.append(Message(literal.replace("%", "%%"), None, _template_context(node, where), where))
    for node in template.nodelist.get_nodes_by_type(BlockTranslateNode):
        singular, _vars = node.render_token_list(node.singular)
        plural = node.render_token_list(node.plural)[0] if node.plural else None
        messages.append(Message(singular, plural, _template_context(node, where), where))
    for token in Lexer(source).tokenize():
        if token.token_type in (TokenType.VAR, TokenType.BLOCK):
            for quoted in _TEMPLATE_CONSTANT.findall(token.contents):
                messages.append(Message(unescape_string_literal(quoted).replace("%", "%%"), where=where))
    return messages


def _template_context(node: TranslateNode | BlockTranslateNode, where: str) -> str | None:
    if node.message_context is None:
        return None
    # A constant context compiles to its string; a variable one cannot be known before rendering.
    if not isinstance(node.message_context.var, str):
        raise UnreadableMark(f"{where}: the context of a translation must be a string literal")
    return node.message_context.var


# --- Python ------------------------------------------------------------------------------------------


def python_messages(source: str, where: str = "<python>") -> list[Message]:
    """Return the strings the Python `source` marks, through the names it imports gettext's functions by."""
    tree = ast.parse(source)
    functions, modules = _translation_names(tree)
    messages = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        name = None
        if isinstance(call.func, ast.Name):
            name = functions.get(call.func.id)
        elif isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name) and call.func.value.id in modules:
            name = call.func.attr if call.func.attr in GETTEXT_FUNCTIONS else None
        if name is not None:
            messages.append(_python_message(call, name, f"{where}:{call.lineno}"))
    return messages


def _translation_names(tree: ast.Module) -> tuple[dict[str, str], set[str]]:
    """Return {local name: gettext function} and the local names of django.utils.translation itself."""
    functions: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == TRANSLATION_MODULE:
            functions.update({alias.asname or alias.name: alias.name for alias in node.names if alias.name in GETTEXT_FUNCTIONS})
        elif isinstance(node, ast.ImportFrom) and node.module == "django.utils":
            modules.update(alias.asname or alias.name for alias in node.names if alias.name == "translation")
        elif isinstance(node, ast.Import):
            modules.update(alias.asname for alias in node.names if alias.name == TRANSLATION_MODULE and alias.asname)
    return functions, modules


def _python_message(call: ast.Call, name: str, where: str) -> Message:
    context_at, msgid_at, plural_at = GETTEXT_FUNCTIONS[name]

    def literal(position: int | None) -> str | None:
        if position is None:
            return None
        argument = call.args[position] if position < len(call.args) else None
        if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
            raise UnreadableMark(f"{where}: {name}() must be given string literals, or no catalogue can hold them")
        return argument.value

    return Message(literal(msgid_at), literal(plural_at), literal(context_at), where)  # type: ignore[arg-type]


# --- Catalogues -----------------------------------------------------------------------------------


def catalogue_path(language: str, root: Path = ROOT) -> Path:
    return root / "locale" / language / "LC_MESSAGES" / "django.po"


def missing_translations(messages: Iterable[Message], catalogue: polib.POFile, *, identity: bool) -> list[str]:
    """Say what of `messages` the catalogue does not translate; with `identity`, an empty msgstr is the msgid."""
    entries = {(entry.msgctxt, entry.msgid): entry for entry in catalogue if not entry.obsolete}
    nplurals = _nplurals(catalogue)
    problems = []
    for message in unique(messages):
        entry = entries.get(message.key)
        label = f"{message.msgid!r}" + (f" (context {message.context!r})" if message.context else "") + f" at {message.where}"
        if entry is None:
            problems.append(f"no entry for {label}")
            continue
        if (entry.msgid_plural or None) != message.plural:
            problems.append(f"the entry for {label} has plural {entry.msgid_plural!r}, the code {message.plural!r}")
            continue
        if "fuzzy" in entry.flags:
            problems.append(f"the translation of {label} is fuzzy: check it, then remove the flag")
        translations = [entry.msgstr_plural.get(form, "") for form in range(nplurals)] if message.plural else [entry.msgstr]
        if not identity and not all(translations):
            problems.append(f"no translation of {label}")
        allowed = set(_PLACEHOLDER.findall(message.msgid + (message.plural or "")))
        for translation in filter(None, translations):
            used = set(_PLACEHOLDER.findall(translation))
            # A plural form may leave the number out ("one second"); nothing may name what the code does not pass.
            if used - allowed or (not message.plural and used != allowed):
                problems.append(f"the translation of {label} has placeholders {sorted(used)}, the msgid {sorted(allowed)}")
    return problems


def unused_entries(messages: Iterable[Message], catalogue: polib.POFile) -> list[str]:
    """Say which entries of the catalogue no code marks any more (`make messages` makes them obsolete)."""
    marked = {message.key for message in messages}
    return [f"{entry.msgid!r} is translated but no longer marked" for entry in catalogue
            if not entry.obsolete and entry.msgid and (entry.msgctxt, entry.msgid) not in marked]


def stale_compilation(catalogue_file: Path) -> list[str]:
    """Say how the .mo beside `catalogue_file` differs from what the .po compiles to (msgfmt's rules)."""
    compiled_file = catalogue_file.with_suffix(".mo")
    if not compiled_file.is_file():
        return [f"{compiled_file} is missing"]
    with compiled_file.open("rb") as opened:
        compiled = gettext.GNUTranslations(opened)
    catalogue = polib.pofile(str(catalogue_file))
    expected = dict(_compiled_entries(catalogue))
    actual = {key: value for key, value in compiled._catalog.items() if key != ""}  # type: ignore[attr-defined]
    problems = [f"{compiled_file}: {key!r} is {actual.get(key)!r}, the .po says {value!r}"
                for key, value in expected.items() if actual.get(key) != value]
    problems += [f"{compiled_file}: {key!r} is not in the .po" for key in actual.keys() - expected.keys()]
    if compiled.info().get("plural-forms") != catalogue.metadata.get("Plural-Forms"):
        problems.append(f"{compiled_file}: Plural-Forms differs from the .po's")
    return problems


def _compiled_entries(catalogue: polib.POFile) -> Iterator[tuple[str | tuple[str, int], str]]:
    # msgfmt leaves out fuzzy and untranslated entries; a context prefixes its msgid with EOT.
    for entry in catalogue.translated_entries():
        msgid = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural:
            yield from (((msgid, int(form)), text) for form, text in entry.msgstr_plural.items())
        else:
            yield msgid, entry.msgstr


def _nplurals(catalogue: polib.POFile) -> int:
    found = re.search(r"nplurals\s*=\s*(\d+)", catalogue.metadata.get("Plural-Forms", ""))
    return int(found.group(1)) if found else 2


def unique(messages: Iterable[Message]) -> list[Message]:
    """Return `messages` with each (context, msgid) once, first place first."""
    seen: dict[tuple[str | None, str], Message] = {}
    for message in messages:
        seen.setdefault(message.key, message)
    return list(seen.values())
