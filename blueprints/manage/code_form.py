"""The discount code form: it parses a code once into model values (money, the validity window in UTC);
services/discount_codes.py keeps the rules that need the database."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateTimeLocalField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from blueprints.manage.forms import WholeForm
from blueprints.rendering import zone_label
from models import DiscountCode, DiscountKind, Race, TicketType
from models.discount import CODE_MAX_LENGTH
from services.money import minor_digits, money_text, to_minor
from services.race_editing import day_problem
from services.typed_input import is_whole_number

CODE_CHARACTERS = re.compile(r"^[\w-]+$")
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
WHEN_MESSAGE = _l("Enter a date and time, like 2027-03-01 09:00.")


class DiscountCodeForm(WholeForm):
    """A discount code, parsed once into model values (`values()`): money in the race's currency, the
    validity window from the race's local time to UTC, and a ticket type of this race only."""

    code = StringField(_l("Code"), validators=[
        DataRequired(_l("Enter a code, like FRIENDS.")),
        Length(min=3, max=CODE_MAX_LENGTH, message=_l("Use 3 to %(max)d characters.", max=CODE_MAX_LENGTH))])
    kind = RadioField(_l("Discount"), choices=[SelectChoice("percent", _l("Percent off")),
                                              SelectChoice("amount", _l("Amount off"))],
                      default="percent", validate_choice=False)
    value = StringField(_l("How much"), validators=[DataRequired(_l("Enter how much the code takes off."))])
    ticket_type = SelectField(_l("Applies to"), validate_choice=False, default="")
    starts_at = DateTimeLocalField(_l("Valid from"), format=LOCAL_FORMATS, validators=[Optional()],
                                   invalid_value_message=WHEN_MESSAGE)
    ends_at = DateTimeLocalField(_l("Valid until"), format=LOCAL_FORMATS, validators=[Optional()],
                                 invalid_value_message=WHEN_MESSAGE)
    max_uses = StringField(_l("Maximum uses"))
    active = BooleanField(_l("Active: buyers can use it"), default=True)

    def __init__(self, *args, race: Race, ticket_types: list[TicketType], editing: DiscountCode | None = None,
                 **kwargs):
        if editing is not None and request.method == "GET":
            kwargs.update(self.initial(editing, race))
        super().__init__(*args, **kwargs)
        self.race = race
        self.ticket_types = {t.id: t for t in ticket_types}
        self.ticket_type.choices = [SelectChoice("", _("All tickets"))] + [
            SelectChoice(str(t.id), t.name) for t in ticket_types]
        self.value.description = _("A percentage from 1 to 100, or an amount in %(currency)s, like %(example)s.",
                                   currency=race.currency, example=money_text(500, race.currency))
        self.starts_at.description = self.ends_at.description = _("In the race's time zone (%(zone)s).",
                                                                  zone=zone_label(race.timezone))
        self.max_uses.description = _("Leave empty for no limit.")
        self._parsed: dict = {}

    @staticmethod
    def initial(code: DiscountCode, race: Race) -> dict:
        """The form's values for an existing code (times shown in the race's timezone)."""
        def local(value):
            return value.astimezone(race.tz).replace(tzinfo=None) if value else None

        value = str(code.percent_off) if code.kind == DiscountKind.PERCENT else money_text(code.amount_off, race.currency)
        return {"code": code.code, "kind": code.kind.value, "value": value,
                "ticket_type": str(code.ticket_type_id or ""), "starts_at": local(code.starts_at),
                "ends_at": local(code.ends_at), "max_uses": str(code.max_uses or ""), "active": code.active}

    def validate_code(self, field):
        text = (field.data or "").strip()
        if not CODE_CHARACTERS.match(text):
            raise ValidationError(_("Use letters, digits, dashes or underscores (no spaces)."))
        self._parsed["code"] = text

    def validate_kind(self, field):
        if field.data not in ("percent", "amount"):
            raise ValidationError(_("Choose percent or amount off."))

    def validate_value(self, field):
        text = (field.data or "").strip()
        if self.kind.data == "percent":
            if not is_whole_number(text.rstrip("%").strip(), max_digits=3) or not 1 <= int(text.rstrip("%").strip()) <= 100:
                raise ValidationError(_("Enter a whole percentage from 1 to 100."))
            percent, amount = int(text.rstrip("%").strip()), None
        elif self.kind.data == "amount":
            try:
                amount = to_minor(text, self.race.currency)
            except (ValueError, ArithmeticError):
                raise ValidationError(_("Enter the amount as a number, like %(example)s.",
                                                example=money_text(500, self.race.currency))) from None
            if amount <= 0:
                raise ValidationError(_("The amount has to be more than 0."))
            if amount > 100_000 * 10 ** minor_digits(self.race.currency):
                raise ValidationError(_("That's more than any ticket costs. Use at most 100,000."))
            percent = None
        else:
            return  # the kind's own error says what to fix
        self._parsed.update(kind=DiscountKind(self.kind.data), percent_off=percent, amount_off=amount)

    def validate_ticket_type(self, field):
        raw = field.data or ""
        if raw == "":
            self._parsed["ticket_type_id"] = None
        elif is_whole_number(raw) and int(raw) in self.ticket_types:
            self._parsed["ticket_type_id"] = int(raw)
        else:
            raise ValidationError(_("Pick one of this race's ticket types, or all tickets."))

    def validate_starts_at(self, field):
        if problem := day_problem(field.data.date() if field.data else None):
            raise ValidationError(problem)
        self._parsed["starts_at"] = self._utc(field.data)

    def validate_ends_at(self, field):
        if problem := day_problem(field.data.date() if field.data else None):
            raise ValidationError(problem)
        ends = self._utc(field.data)
        starts = self._utc(self.starts_at.data) if not self.starts_at.errors else None
        if ends is not None and starts is not None and ends <= starts:
            raise ValidationError(_("The code has to end after it starts."))
        self._parsed["ends_at"] = ends

    def validate_max_uses(self, field):
        raw = (field.data or "").strip()
        if not raw:
            self._parsed["max_uses"] = None
            return
        if not is_whole_number(raw, max_digits=7) or int(raw) < 1:
            raise ValidationError(_("Enter a whole number of uses, 1 or more, or leave it empty for no limit."))
        self._parsed["max_uses"] = int(raw)

    def _utc(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=ZoneInfo(self.race.timezone)).astimezone(ZoneInfo("UTC"))

    def values(self) -> dict:
        """The values that parsed, ready for the model (all of them once validate() succeeded)."""
        return {**self._parsed, "active": bool(self.active.data)}
