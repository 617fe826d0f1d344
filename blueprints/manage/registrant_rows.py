"""The registrant list's rows around their bib forms, written in Python for the list's 50 rows (issue 17).

Each row of templates/manage/registrants.html is its opening, the row's bib form (`bib_form`,
blueprints/manage/bib_field.py) and its closing, and the template asks for all 50 in one call (`html`). As Jinja
wrote them, byte for byte: every value escaped as `{{ }}` escapes it, the words the template translated once put in
as it gave them. The page writes one row with a mark where each row's own value goes (the bib form too, by
`bib_form` itself), and each row is then that frame filled in: one format a row, the page's address, words and
token escaped once for the 50.
"""
from __future__ import annotations

import re

from markupsafe import Markup, escape

from blueprints.manage.bib_field import bib_form
from blueprints.rendering import local_day_writer
from services.stored_sentences import worded

_OPENING = ('<tr>\n'
            '        <td class="col-name">\n'
            '          <a href="{base}/{id}">{last}{comma}{first}{no_name}</a>\n'
            '          <span class="registrant-email">{email}</span>\n'
            '{waiting}{problem}        </td>\n'
            '        <td class="col-ticket" data-label="{ticket_label}">{ticket}</td>\n'
            '        <td class="col-bib" data-label="{bib_label}">')
_CLOSING = ('  </td>\n'
            '        <td class="col-status" data-label="{status_label}">{status}</td>\n'
            '        <td class="col-checkin" data-label="{checkin_label}">{checkin}</td>\n'
            '        <td class="col-registered" data-label="{registered_label}">{registered}</td>\n'
            '        <td class="col-waiver" data-label="{waiver_label}">{waiver}</td>\n'
            '      </tr>')
_NONE = '<span class="muted">–</span>'
_ESCAPED = re.compile("[&<>'\"]").search  # the characters markupsafe's escape replaces
# What a row's own values are called in its frame; each stands in the page's row as \0name\0 until the frame is made.
_OWN = ("id", "last", "comma", "first", "no_name", "email", "waiting", "problem", "ticket", "name", "bib", "status",
        "checkin", "registered", "waiver")


def _html(value) -> str:
    """As `{{ value }}` writes it: a translation (Markup) as it is, anything else escaped. Text with nothing to
    escape (most names and emails) is written as it is: looking costs a fifth of what escaping does."""
    if type(value) is str and not _ESCAPED(value):
        return value
    return str(escape(value))


def _frame(row: str) -> str:
    """A row with its own values marked (\\0name\\0) as a format string: the page's text kept as it is."""
    row = row.replace("{", "{{").replace("}", "}}")
    for name in _OWN:
        row = row.replace(f"\0{name}\0", f"{{{name}}}")
    return row


class _Written(dict):
    """Each value's HTML, written by `write` the first time a page asks for it."""

    def __init__(self, write):
        super().__init__()
        self.write = write

    def __missing__(self, value):
        written = self[value] = self.write(value)
        return written


class _Marked:
    """The registration a page's row frame is written for: each value the mark of where a row's own goes."""

    id, runner_name = "\0id\0", "\0name\0"


class RegistrantRows:
    """The rows of one page of the list: made once per page (the page's address, race, time, status names and
    the words the template translated), then `html(rows, …)` for the page's rows."""

    def __init__(self, base: str, race, now, statuses: dict, checkin_time, no_name, waiting, ticket_label, bib_label,
                 status_label, checkin_label, registered_label, waiver_label):
        self.bib_base = base  # a bib form's address is this, the id and /bib (bib_form escapes it)
        self.base = _html(base)
        self.no_name = _html(no_name)
        self.statuses = {name: f'<span class="badge status-{_html(name)}">{_html(label)}</span>'
                         for name, label in statuses.items()}
        self.waiting = f'<span class="badge status-waiting">{_html(waiting)}</span>'
        self.labels = {"ticket_label": _html(ticket_label), "bib_label": _html(bib_label),
                       "status_label": _html(status_label), "checkin_label": _html(checkin_label),
                       "registered_label": _html(registered_label), "waiver_label": _html(waiver_label)}
        day = local_day_writer(race.timezone, "d MMM y")
        self.day = lambda at: self.days[day(at)]
        # Values many rows share, each written once a page: a kept sentence, a ticket type's name, a check-in time
        # (none, mostly), a waiver version, a sign-up day.
        self.problems = _Written(lambda problem: f'<span class="details-problem" role="note">{_html(worded(problem))}'
                                                 '</span>' if problem else "")
        self.tickets = _Written(_html)
        self.checkins = _Written(lambda at: f'<span class="checked-mark">✓ {_html(checkin_time(at, race, now))}</span>'
                                 if at else _NONE)
        self.waivers = _Written(lambda number: f"v{_html(number)}" if number else _NONE)
        self.days = _Written(_html)

    def html(self, rows, csrf: str, here: str) -> Markup:
        """The rows, each its opening, bib form (`csrf`, and `here` to come back to) and closing, indented as the
        template's loop wrote them: one call for the page instead of three a row (issue 17)."""
        marks = {name: f"\0{name}\0" for name in _OWN}
        form = bib_form(_Marked, f"{self.bib_base}/{_Marked.id}/bib", csrf, marks["bib"], next_url=here)
        opening = _OPENING.format(base=self.base, **self.labels, **marks)
        closing = _CLOSING.format(**self.labels, **marks)
        row_format = _frame(f"{opening}\n          {form}\n      {closing}").format
        written = []
        for row in rows:
            reg = row.registration
            last, first, name, bib = reg.last_name, reg.first_name, reg.runner_name, reg.bib
            written.append(row_format(
                id=reg.id, last=_html(last), comma=", " if last and first else "", first=_html(first),
                no_name="" if name else self.no_name, email=_html(reg.email),
                waiting=self.waiting if reg.awaiting_runner else "", problem=self.problems[reg.details_problem],
                ticket=self.tickets[row.ticket_type_name], name=_html(name), bib=_html(bib or ""),
                status=self.statuses[row.status], checkin=self.checkins[reg.checked_in_at],
                registered=self.day(row.registered_at), waiver=self.waivers[row.waiver_number]))
        return Markup("\n      ".join(written))
