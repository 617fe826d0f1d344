"""The registrant list's rows around their bib forms, written in Python for the list's 50 rows (issue 17).

Each row of templates/manage/registrants.html is this module's `opening`, the row's bib form (`bib_form`,
blueprints/manage/bib_field.py) and its `closing`, and the template asks for all 50 in one call (`html`). As Jinja
wrote them, byte for byte: every value escaped as `{{ }}` escapes it, the words the template translated once put in
as it gave them. Jinja spent some twenty escapes, lookups and calls per row on them (a third of the page's Python);
here it is one format per half.
"""
from __future__ import annotations

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
            '        <td class="col-status" data-label="{status_label}">'
            '<span class="badge status-{status}">{status_name}</span></td>\n'
            '        <td class="col-checkin" data-label="{checkin_label}">{checkin}</td>\n'
            '        <td class="col-registered" data-label="{registered_label}">{registered}</td>\n'
            '        <td class="col-waiver" data-label="{waiver_label}">{waiver}</td>\n'
            '      </tr>')
_NONE = '<span class="muted">–</span>'


def _html(value) -> str:
    return str(escape(value))  # as `{{ value }}` writes it: a translation (Markup) as it is, anything else escaped


class RegistrantRows:
    """The rows of one page of the list: made once per page (the page's address, race, time, status names and
    the words the template translated), then `html(rows, …)` for the page's rows."""

    def __init__(self, base: str, race, now, statuses: dict, checkin_time, no_name, waiting, ticket_label, bib_label,
                 status_label, checkin_label, registered_label, waiver_label):
        self.bib_base = base  # a bib form's address is this, the id and /bib (bib_form escapes it)
        self.base, self.race, self.now, self.checkin_time = _html(base), race, now, checkin_time
        self.no_name, self.statuses = _html(no_name), {name: _html(label) for name, label in statuses.items()}
        self.waiting = f'<span class="badge status-waiting">{_html(waiting)}</span>'
        self.labels = {"ticket_label": _html(ticket_label), "bib_label": _html(bib_label)}
        self.closing_labels = {"status_label": _html(status_label), "checkin_label": _html(checkin_label),
                               "registered_label": _html(registered_label), "waiver_label": _html(waiver_label)}
        self.day = local_day_writer(race.timezone, "d MMM y")
        self.problems: dict[str, str] = {}  # a kept sentence worded once a page, however many rows keep it
        self.closings: dict[tuple, list[str]] = {}  # a closing's text before and after its sign-up day

    def html(self, rows, csrf: str, here: str) -> Markup:
        """The rows, each its opening, bib form (`csrf`, and `here` to come back to) and closing, indented as the
        template's loop wrote them: one call for the page instead of three a row (issue 17)."""
        written = []
        for row in rows:
            reg = row.registration
            form = bib_form(reg, f"{self.bib_base}/{reg.id}/bib", csrf, reg.bib or "", next_url=here)
            written.append(f"{self.opening(row)}\n          {form}\n      {self.closing(row)}")
        return Markup("\n      ".join(written))

    def opening(self, row) -> Markup:
        reg = row.registration
        last, first, problem = reg.last_name, reg.first_name, reg.details_problem
        if problem:
            problem = self.problems.get(problem) or self.problems.setdefault(
                problem, f'<span class="details-problem" role="note">{_html(worded(problem))}</span>')
        return Markup(_OPENING.format(
            base=self.base, id=_html(reg.id), last=_html(last), comma=", " if last and first else "", first=_html(first),
            no_name="" if reg.runner_name else self.no_name, email=_html(reg.email),
            waiting=self.waiting if reg.awaiting_runner else "", problem=problem or "", ticket=_html(row.ticket_type_name),
            **self.labels))

    def closing(self, row) -> Markup:
        """The row's status, check-in, sign-up day and waiver. Around the day, the same for many rows (paid, not
        checked in, the current waiver version): each different one is written once a page."""
        checked_in_at = row.registration.checked_in_at
        key = (row.status, checked_in_at, row.waiver_number)
        around = self.closings.get(key)
        if around is None:
            status, _, waiver = key
            checkin = (f'<span class="checked-mark">✓ {_html(self.checkin_time(checked_in_at, self.race, self.now))}'
                       '</span>' if checked_in_at else _NONE)
            around = self.closings[key] = _CLOSING.format(
                status=_html(status), status_name=self.statuses[status], checkin=checkin, registered="{registered}",
                waiver=f"v{_html(waiver)}" if waiver else _NONE, **self.closing_labels).split("{registered}")
        return Markup(_html(self.day(row.registered_at)).join(around))
