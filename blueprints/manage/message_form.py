"""The message compose form: its fields' shape; services/messages/sending.py judges the draft."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Regexp, ValidationError

from blueprints.manage.forms import choices
from models import TicketType
from services.messages.audience import CHECKED_IN, DETAILS, SOURCE_LABELS, SOURCES, Audience
from services.messages.sending import BODY_MAX, SUBJECT_MAX, TICKET_TYPE_PROBLEM, Draft

SENT_TWICE = _l("This field was sent more than once. Reload the page and try again.")


class MessageForm(FlaskForm):
    """Subject, Markdown body, audience filters, Essential, and the key that makes Send happen once."""

    key = HiddenField(validators=[Regexp(r"^[A-Za-z0-9_-]{20,64}$", message=_l("This form is out of date. Reload the page."))])
    subject = StringField(_l("Subject"))
    body = TextAreaField(_l("Message"))
    # The choices are checked by the service (draft_problems), which words each refusal once.
    source = SelectField(_l("Send to"), default="registrants", validate_choice=False,
                         choices=choices((s, SOURCE_LABELS.get(s, s)) for s in SOURCES))
    ticket_type = SelectField(_l("Ticket type"), default="", validate_choice=False)
    checked_in = SelectField(_l("Check-in"), default="", validate_choice=False, choices=choices(CHECKED_IN.items()))
    details = SelectField(_l("Runner's details"), default="", validate_choice=False, choices=choices(DETAILS.items()))
    essential = BooleanField(_l("Essential: race-day changes or safety"))

    def __init__(self, *args, ticket_types: list[TicketType], **kwargs):
        super().__init__(*args, **kwargs)
        self.ticket_type.choices = choices([("", _l("Every ticket type")), *((str(t.id), t.name) for t in ticket_types)])
        self.subject_max, self.body_max = SUBJECT_MAX, BODY_MAX

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if field.raw_data and len(field.raw_data) > 1:
                field.errors = [str(SENT_TWICE)]
                valid = False
        return valid

    def validate_ticket_type(self, field):
        if field.data and not _is_id(field.data):
            raise ValidationError(TICKET_TYPE_PROBLEM)

    def audience(self) -> Audience:
        """The filters as picked; a ticket type that isn't a number (refused by validate) counts as none."""
        ticket = self.ticket_type.data
        return Audience(source=self.source.data or "", ticket_type_id=int(ticket) if _is_id(ticket) else None,
                        checked_in=self.checked_in.data or "", details=self.details.data or "")

    def draft(self) -> Draft:
        return Draft(subject=(self.subject.data or "").strip(), body=self.body.data or "", audience=self.audience(),
                     essential=bool(self.essential.data))

    def has_sources(self) -> bool:
        """More than one place people come from (the waitlist, once wired in): then the form asks which."""
        return len(self.source.choices) > 1


def _is_id(value: str | None) -> bool:
    return bool(value) and value.isascii() and value.isdigit() and len(value) < 10
