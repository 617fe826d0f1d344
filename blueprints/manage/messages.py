"""Messages to runners: write one, see who it reaches, preview it, send a test, send it, and the sent list."""
from __future__ import annotations

import base64
import hashlib
import html
import re

from flask import current_app, g, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from blueprints.errors import abort_for_user
from blueprints.manage import bp, organizer_required
from blueprints.manage.forms import first_errors, show_problems
from blueprints.manage.message_form import MessageForm
from blueprints.rendering import is_htmx_request, redirect_to, render
from blueprints.security import content_security_policy
from extensions import db
from models import Race, TicketType
from services import clock
from services.messages import sending
from services.messages.audience import Audience, AudienceList, describe
from services.messages.sending import MessageRefused
from services.tokens import new_token

AUDIENCE_FIELDS = ("source", "ticket_type", "checked_in", "details", "essential")


def _ticket_types(race: Race) -> list[TicketType]:
    return list(db.session.scalars(select(TicketType).where(TicketType.race_id == race.id)
                                   .order_by(TicketType.position, TicketType.id)))


def _form(race: Race, formdata=None) -> MessageForm:
    """The compose form: blank with a fresh key, posted, or (the live count) read from the query string."""
    types = _ticket_types(race)
    form = MessageForm(formdata=formdata, ticket_types=types, meta={"csrf": formdata is not request.args})
    form.ticket_names = {t.id: t.name for t in types}
    if formdata is None:
        form.key.data = new_token()  # carried through preview and confirm; Send with it a second time sends nothing
    return form


def _summary(race: Race, form: MessageForm) -> tuple[AudienceList | None, str | None]:
    """Who the form's filters reach now, or why they can't be counted."""
    try:
        return sending.recipients(db.session, race, form.draft()), None
    except MessageRefused as refused:
        return None, next(iter(refused.problems.values()))


def _send_label(people: AudienceList | None) -> str:
    if people is None:
        return _("Send to runners…")
    n = len(people.recipients)
    return ngettext("Send to %(num)d runner…", "Send to %(num)d runners…", n)


def _page(race: Race, form: MessageForm, *, status: int = 200, preview: tuple[str, str] | None = None,
          notice: str | None = None):
    people, audience_problem = _summary(race, form)
    response = render("manage/messages.html", block="compose", status=status, race=race, form=form, people=people,
                      audience_problem=audience_problem, preview=preview, notice=notice, oob=False,
                      send_label=_send_label(None if audience_problem else people),
                      sent=sending.sent_messages(db.session, race), describe=describe, Audience=Audience)
    return _showing_email(response, preview[1] if preview else None)


_STYLE_ATTRIBUTE = re.compile(r'style="([^"]*)"')


def _showing_email(response, email_html: str | None):
    """Let the page's email preview (a sandboxed srcdoc frame, under this page's CSP) keep its inline styles."""
    if email_html:
        hashes = sorted({base64.b64encode(hashlib.sha256(html.unescape(style).encode()).digest()).decode()
                         for style in _STYLE_ATTRIBUTE.findall(email_html)})
        response.headers["Content-Security-Policy"] = content_security_policy(current_app.config, tuple(hashes))
    return response


def _posted_form(race: Race) -> tuple[MessageForm, bool]:
    """The posted form, with its shape's and the draft's problems beside their fields; and whether it is sendable."""
    form = _form(race, request.form)
    shape_ok = form.validate()
    problems = sending.draft_problems(db.session, race, form.draft())
    show_problems(form, {name: message for name, message in problems.items()
                         if name in form and name not in first_errors(form)})
    return form, shape_ok and not problems


@bp.get("/races/<int:race_id>/messages")
@organizer_required
def messages(race: Race):
    """Write a message to the race's runners; the messages sent so far, with how their delivery went."""
    return _page(race, _form(race))


@bp.get("/races/<int:race_id>/messages/audience")
@organizer_required
def message_audience(race: Race):
    """How many people the picked filters reach (htmx asks as the filters change); a plain visit to this
    address (a bookmark, a reload) lands on the Messages page."""
    if not is_htmx_request():
        return redirect_to(url_for("manage.messages", race_id=race.id))
    form = _form(race, request.args)
    form.validate()
    audience_errors = [error for name, error in first_errors(form).items() if name in AUDIENCE_FIELDS]
    people, problem = _summary(race, form)
    problem = problem or next(iter(audience_errors), None)
    people = None if problem else people
    return render("manage/messages.html", block="audience_count", status=422 if problem else 200, race=race,
                  form=form, people=people, audience_problem=problem, oob=True, send_label=_send_label(people))


@bp.post("/races/<int:race_id>/messages/preview")
@organizer_required
def preview_message(race: Race):
    """The email as a runner would get it, under the form (also the way back from the confirmation step)."""
    form, ok = _posted_form(race)
    if not ok:
        return _page(race, form, status=422)
    return _page(race, form, preview=sending.preview(race, g.user, form.draft()))


@bp.post("/races/<int:race_id>/messages/test")
@organizer_required
def test_message(race: Race):
    """Send the draft to the organizer alone, marked [Test]."""
    form, ok = _posted_form(race)
    if not ok:
        return _page(race, form, status=422)
    sending.send_test(db.session, race, g.user, form.draft())
    return _page(race, form, notice=_("A test is on its way to %(email)s. It's marked [Test] in the subject.",
                                      email=g.user.email))


@bp.post("/races/<int:race_id>/messages/confirm")
@organizer_required
def confirm_message(race: Race):
    """The last step before sending: whom it reaches, and the email itself."""
    form, ok = _posted_form(race)
    people = _summary(race, form)[0] if ok else None
    if ok and not people.recipients:
        form.ticket_type.errors = [sending.NOBODY]
        ok = False
    if not ok:
        return _page(race, form, status=422)
    preview = sending.preview(race, g.user, form.draft())
    return _showing_email(render("manage/message_confirm.html", race=race, form=form, people=people,
                                 audience=describe(form.audience(), form.ticket_names), preview=preview), preview[1])


@bp.post("/races/<int:race_id>/messages/send")
@organizer_required
def send_message(race: Race):
    """Queue the message to everyone it reaches, once however many times the button is pressed."""
    form, ok = _posted_form(race)
    if ok:
        try:
            message, _ = sending.send_message(db.session, race, g.user, form.draft(), form.key.data, clock.now())
        except MessageRefused as refused:
            show_problems(form, {"ticket_type" if name == "audience" else name: problem
                                 for name, problem in refused.problems.items()})
        else:
            return redirect_to(url_for("manage.sent_message", race_id=race.id, sent_id=message.id, queued=1))
    return _page(race, form, status=422)


@bp.get("/races/<int:race_id>/messages/<int:sent_id>")
@organizer_required
def sent_message(race: Race, sent_id: int):
    """One sent message: what it said, to whom, and how its delivery is going."""
    sent = sending.sent_message(db.session, race, sent_id)
    if sent is None:
        abort_for_user(404, _("That message isn't one of this race's."))
    return render("manage/message.html", block="counts", race=race, sent=sent, just_queued=request.args.get("queued") == "1",
                  audience=describe(Audience.from_json(sent.message.audience),
                                    {t.id: t.name for t in _ticket_types(race)}))
