"""Every string a person reads goes through gettext, and every catalog translates every message.

Three checks, each saying file and line of what it finds:
- the catalogs (translations/<lang>/LC_MESSAGES/messages.po) have every message the code has, translated,
  none fuzzy, with the same placeholders;
- the templates have no visible words outside `_()` / `{% trans %}` (text, and the attributes a person reads or
  hears: alt, title, placeholder, aria-label…);
- the Python code has no prose outside gettext where a person reads it (a heuristic over string literals:
  developer-facing ones — log lines, exceptions of Python's own types, SQL, docstrings — are skipped, and
  the few other non-translated strings are listed in tests/untranslated.txt with their file).
"""
from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from jinja2 import Environment
from jinja2.lexer import TOKEN_BLOCK_BEGIN, TOKEN_BLOCK_END, TOKEN_DATA, TOKEN_NAME, TOKEN_WHITESPACE

from services.languages import DEFAULT_LANGUAGE, TRANSLATIONS_DIR, languages

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "lazy_ngettext": (1, 2),
            "_l": None, "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3)}
ALLOWED_FILE = Path(__file__).with_name("untranslated.txt")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%[sd]|\{(\w*)\}")


def extracted_messages() -> dict[tuple[str, str | None], tuple[str, int]]:
    """(msgid (the singular), context) → (file, line) of each message the code has, as `make translations`
    extracts."""
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    messages = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        msgid = message[0] if isinstance(message, tuple) else message
        messages.setdefault((msgid, context), (filename, lineno))
    return messages


@pytest.fixture(scope="module")
def messages():
    return extracted_messages()


def catalog(language: str):
    with open(TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


TRANSLATED = [code for code in languages() if code != DEFAULT_LANGUAGE]


def test_there_is_a_spanish_catalog():
    assert "es" in TRANSLATED


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_in_the_catalog_translated_and_not_fuzzy(messages, language):
    po = catalog(language)
    problems = []
    for (msgid, context), (filename, lineno) in sorted(messages.items(), key=lambda item: item[1]):
        entry = po.get(msgid, context=context)
        if entry is None:
            problems.append(f"{filename}:{lineno}: not in the catalog (make translations): {msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(s.strip() for s in strings):
            problems.append(f"{filename}:{lineno}: untranslated: {msgid!r}")
        elif entry.fuzzy:
            problems.append(f"{filename}:{lineno}: fuzzy (check it, then drop the flag): {msgid!r}")
    assert not problems, f"{len(problems)} in {language}:\n" + "\n".join(problems[:200])


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_translation_keeps_the_placeholders_of_its_message(language):
    problems = []
    for entry in catalog(language):
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = {m.group(0) for m in PLACEHOLDER.finditer(ids[-1])} | {m.group(0) for m in PLACEHOLDER.finditer(ids[0])}
        for string in strings:
            if not string:
                continue
            got = {m.group(0) for m in PLACEHOLDER.finditer(string)}
            # A plural's singular may say "one" instead of %(num)d; every other placeholder must be there.
            if not got <= wanted or not (wanted - {"%(num)d", "%(count)d", "%(count)s", "%(num)s"}) <= got:
                problems.append(f"{entry.locations[:1]}: {ids[0]!r} → {string!r}")
    assert not problems, "\n".join(problems)


# --- templates ---------------------------------------------------------------------------------------

# Attributes whose value a person reads or hears.
READ_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label", "aria-description", "aria-roledescription",
                   "aria-valuetext", "label", "summary"}
WORD = re.compile(r"[^\W\d_]{2,}")
MARK = "\x00"


def allowed() -> dict[str, set[str]]:
    """tests/untranslated.txt: `path<TAB>text` lines of strings that stay as they are in every language
    (`path<TAB>*`: a whole file of them, such as the sample races' own content)."""
    found: dict[str, set[str]] = {}
    for line in ALLOWED_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            path, _tab, text = line.partition("\t")
            found.setdefault(path.strip(), set()).add(text.strip())
    return found


def masked_template(source: str, env: Environment) -> str:
    """The template's text with every Jinja expression, statement, comment and `{% trans %}` block replaced by
    a marker (newlines kept, so lines still count): what is left is what goes out untranslated."""
    out, in_trans, in_block, previous = [], 0, False, None
    for _lineno, kind, value in env.lex(source):
        if kind == TOKEN_BLOCK_BEGIN:
            in_block = True
        elif kind == TOKEN_BLOCK_END:
            in_block = False
        if kind == TOKEN_NAME and previous == TOKEN_BLOCK_BEGIN:  # the statement's name: {% trans … %}
            if value == "trans":
                in_trans += 1
            elif value == "endtrans":
                in_trans -= 1
        if kind != TOKEN_WHITESPACE:
            previous = kind
        if kind == TOKEN_DATA and not in_trans:
            out.append(value)
        elif in_block or kind == TOKEN_BLOCK_END:
            # A statement is blank, not a mark: `<li{% if x %} class="a"{% endif %}>` stays a tag to the parser.
            out.append(" " + "\n" * value.count("\n"))
        else:
            out.append(MARK + "\n" * value.count("\n"))
    return "".join(out)


class _VisibleText(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skipping += 1
        attributes = dict(attrs)
        for name, value in attrs:
            if value and (name in READ_ATTRIBUTES or (name == "value" and attributes.get("type") in ("submit", "button"))
                          or (name == "content" and attributes.get("name") == "description")):
                self.found.append((self.getpos()[0], value))

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.found.append((self.getpos()[0], data))


def visible_words(text: str) -> str:
    return " ".join(WORD.findall(text.replace(MARK, " ")))


TEMPLATES = sorted([*ROOT.glob("templates/**/*.html"), *ROOT.glob("templates/**/*.txt"),
                    *ROOT.glob("partials/**/*.html")])


def test_words_inside_trans_blocks_and_gettext_calls_count_as_translated(app):
    source = ('<p>{% trans count=n %}{{ count }} runner{% pluralize %}{{ count }} runners{% endtrans %}</p>'
              '<p>{% trans url=u %}Read the <a href="{{ url }}">waiver</a>.{% endtrans %}</p>'
              '<button title="{{ _(\'Close\') }}">{{ _("Close") }}</button><p>Left out</p><img alt="A dog">')
    parser = _VisibleText()
    parser.feed(masked_template(source, app.jinja_env))
    assert [text for _line, text in parser.found if visible_words(text)] == ["Left out", "A dog"]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_template_has_no_words_outside_gettext(app, path):
    relative = str(path.relative_to(ROOT))
    masked = masked_template(path.read_text(), app.jinja_env)
    if path.suffix == ".txt":
        pieces = [(number, line) for number, line in enumerate(masked.splitlines(), 1)]
    else:
        parser = _VisibleText()
        parser.feed(masked)
        parser.close()
        pieces = parser.found
    ok = allowed().get(relative, set())
    left = [f"{relative}:{line}: {text.strip()!r}" for line, text in pieces
            if visible_words(text) and text.replace(MARK, "").strip() not in ok]
    assert not left, "words outside gettext:\n" + "\n".join(left)


# --- Python ------------------------------------------------------------------------------------------

PYTHON = sorted(p for folder in ("blueprints", "services", "models") for p in (ROOT / folder).rglob("*.py"))
PROSE = re.compile(r"[^\W\d_]{2,}[^\n]* [^\W\d_]{2,}")
GETTEXT_CALLS = set(KEYWORDS) | {"ngettext", "force_locale"}
# Calls whose string arguments are for developers, operators or machines, never shown to a person.
NOT_FOR_PEOPLE = {"debug", "info", "warning", "error", "exception", "critical", "log", "echo", "secho",
                  "print", "text", "execute", "exec_driver_sql", "getenv", "compile", "match", "fullmatch",
                  "search", "sub", "split", "strftime", "strptime", "format_datetime", "format_date",
                  "format_time", "startswith", "endswith", "CheckConstraint", "Index", "UniqueConstraint",
                  "mapped_column", "Column", "bindparam", "literal_column", "label", "command", "option",
                  "argument", "group", "cli", "route", "get", "post", "put", "patch", "delete", "Field",
                  "ConfigDict", "HTTPStatus", "setdefault", "ForeignKey", "TypeAdapter", "Computed"}
DEVELOPER_ERRORS = {"ValueError", "TypeError", "RuntimeError", "KeyError", "LookupError", "AssertionError",
                    "NotImplementedError", "AttributeError", "OSError", "PermissionError", "SystemExit",
                    "ImportError", "IndexError", "IntegrityError"}


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def untranslated_prose(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
            skip.add(id(body[0].value))  # docstrings
        ignored = None
        if isinstance(node, ast.Call) and (_call_name(node) in GETTEXT_CALLS | NOT_FOR_PEOPLE):
            ignored = node
        elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and _call_name(node.exc) in DEVELOPER_ERRORS:
            ignored = node
        elif isinstance(node, (ast.Assert, ast.Compare, ast.Subscript)):
            ignored = node
        elif isinstance(node, ast.FunctionDef) and node.name in ("__repr__", "__str__"):
            ignored = node
        elif isinstance(node, ast.Dict):  # keys are names for machines; values are checked
            for key in node.keys:
                if key is not None:
                    skip.update(id(n) for n in ast.walk(key))
        elif isinstance(node, ast.keyword) and node.arg in ("server_default", "comment", "pattern", "format",
                                                             "name", "content_type", "mimetype", "sql", "order_by",
                                                             "cascade", "back_populates", "primaryjoin",
                                                             "examples", "example"):
            ignored = node
        if ignored is not None:
            skip.update(id(n) for n in ast.walk(ignored))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value.strip()
            if PROSE.search(text) and not text.isupper() and not text.startswith(("SELECT", "UPDATE", "/", "<", "%")):
                found.append((node.lineno, text))
    return found


@pytest.mark.parametrize("path", PYTHON, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_code_has_no_prose_outside_gettext(path):
    relative = str(path.relative_to(ROOT))
    ok = allowed().get(relative, set())
    left = [f"{relative}:{line}: {text!r}" for line, text in untranslated_prose(path) if text not in ok and "*" not in ok]
    assert not left, ("prose outside gettext (wrap it in _(), or list it in tests/untranslated.txt if nobody "
                      "reads it):\n" + "\n".join(left))


def test_the_list_of_untranslated_strings_names_only_what_is_still_there():
    """A string listed as allowed that the code no longer has is taken out of the list."""
    stale = []
    for relative, texts in allowed().items():
        path = ROOT / relative
        source = path.read_text() if path.exists() else ""
        stale += [f"{relative}\t{text}" for text in texts if text != "*" and text not in source]
    assert not stale, "listed in tests/untranslated.txt but gone:\n" + "\n".join(stale)
