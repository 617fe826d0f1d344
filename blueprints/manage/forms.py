"""Every form of the organizer's pages: they check the shape of what was typed; services/ keep the rules.

The race editor has one small form per autosaved field group (`GROUP_FORMS`); the ticket type, discount
code, invite and registrant forms serve the pages of the same names. A form parses what it can (dates,
times, the code's money and window); anything that needs the database or the rest of the race is a
rule of the service the view calls, which refuses with problems per field like a form does.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, available_timezones

from email_validator import EmailNotValidError, validate_email
from flask import request
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, InputRequired, Length, Optional, Regexp, ValidationError

from blueprints.cart_forms import RunnerDetailsForm
from models import SOCIAL_KINDS, DiscountCode, DiscountKind, Race, TaxMode, TicketType
from models.discount import CODE_MAX_LENGTH
from services import clock
from services.money import CURRENCIES, minor_digits, money_text, to_minor
from services.races import SLUG_RE
from services.registrants.edits import EDITABLE
from services.registrants.query import Registrant
from services.runners import GENDERS

TIMEZONES = sorted(available_timezones() - {"localtime", "Factory"})
_COMMON_ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Lima",
                 "America/Mexico_City", "America/Sao_Paulo", "America/Toronto", "Europe/London", "Europe/Paris",
                 "Europe/Berlin", "Europe/Madrid", "Africa/Johannesburg", "Asia/Kolkata", "Asia/Singapore",
                 "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland", "UTC"]


def timezone_choices() -> list[SelectChoice]:
    """Common zones first, then every IANA zone."""
    rest = [z for z in TIMEZONES if z not in _COMMON_ZONES]
    return [SelectChoice(z, z.replace("_", " ")) for z in _COMMON_ZONES + rest]


def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def first_errors(form: FlaskForm) -> dict[str, str]:
    """Each field's first error by field name (read from the fields, so errors set after validate() count)."""
    return {field.name: field.errors[0] for field in form if field.errors}


def show_problems(form: FlaskForm, problems: dict[str, str]) -> None:
    """Put a service's refusal beside the fields it names."""
    for name, message in problems.items():
        form[name].errors = [message]


MISSING_FIELD = "This field was missing from what your browser sent, so nothing was saved. Reload the page and try again."


class WholeForm(FlaskForm):
    """A form whose post must carry every field it shows (a checkbox excepted: unticked, it sends nothing).

    A field left out of a post is not the same as a field emptied: the page always sends each one, so a
    post without it is truncated or forged, and saving it would blank what is stored. It is refused
    beside the field instead.
    """

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if field.name != "csrf_token" and not isinstance(field, BooleanField) and not field.raw_data:
                field.errors = [MISSING_FIELD]
                valid = False
        return valid


def _known_timezone(form, field):
    if field.data not in TIMEZONES:
        raise ValidationError("Pick a time zone from the list.")


def _no_control_characters(form, field):
    if field.data and any(ord(ch) < 32 and ch not in "\n\r\t" for ch in field.data):
        raise ValidationError("Remove the invisible control characters from this text.")


# --- a new race ------------------------------------------------------------------------------

class NewRaceForm(FlaskForm):
    title = StringField("Race name", validators=[DataRequired("Give the race a name."), Length(max=120)])
    day = DateField("Race day", validators=[InputRequired("Pick the race day.")],
                    invalid_value_message="Enter a real date, like 2027-05-02.")
    timezone = SelectField("Time zone", validate_choice=False, validators=[_known_timezone])
    currency = SelectField("Currency", choices=choices((c, c) for c in CURRENCIES))

    def validate_day(self, field):
        today = clock.now().date()
        if field.data and not today <= field.data <= date(today.year + 5, 12, 31):
            raise ValidationError("Pick a day from today to five years ahead.")


# --- the editor's field groups ---------------------------------------------------------------

class TitleForm(WholeForm):
    title = StringField("Race name", validators=[DataRequired("A race needs a name."),
                                                 Length(max=120, message="Keep the name under 120 characters."),
                                                 _no_control_characters])


class SlugForm(WholeForm):
    slug = StringField("Web address", validators=[
        DataRequired("The race needs a web address."), Length(min=3, max=80, message="Use 3 to 80 characters."),
        Regexp(SLUG_RE.pattern, message="Use lowercase letters, numbers and single dashes, like spring-5k.")])


class SummaryForm(WholeForm):
    summary = StringField("One-line summary", validators=[Length(max=280, message="Keep it under 280 characters."),
                                                          _no_control_characters])


class DescriptionForm(WholeForm):
    description = TextAreaField("Description", validators=[Length(max=20000, message="Keep it under 20,000 characters."),
                                                           _no_control_characters])


class WhenForm(WholeForm):
    day = DateField("Race day", validators=[InputRequired("Pick the race day.")],
                    invalid_value_message="Enter a real date, like 2027-05-02.")
    start = TimeField("Start time", validators=[InputRequired("Pick a start time.")],
                      invalid_value_message="Enter a time like 07:30.")
    timezone = SelectField("Time zone", validate_choice=False, validators=[_known_timezone])

    def validate_day(self, field):
        if field.data and not date(2000, 1, 1) <= field.data <= date(2100, 1, 1):
            raise ValidationError("Pick a date between 2000 and 2100.")


class ClosesForm(WholeForm):
    closes_day = DateField("Sign-up closes on", validators=[Optional()],
                           invalid_value_message="Enter a real date, like 2027-05-01.")
    closes_time = TimeField("at", validators=[Optional()], invalid_value_message="Enter a time like 18:00.")

    def validate_closes_day(self, field):
        if bool(field.data) != bool(self.closes_time.data):
            raise ValidationError("Give both a date and a time, or leave both empty for no deadline.")


class WhereForm(WholeForm):
    location_name = StringField("Venue", validators=[Length(max=160), _no_control_characters])
    address = StringField("Address", validators=[Length(max=300), _no_control_characters])


class CurrencyForm(WholeForm):
    currency = SelectField("Currency", choices=choices((c, c) for c in CURRENCIES))


class TaxForm(WholeForm):
    tax_mode = SelectField("Tax", choices=choices([(TaxMode.NONE.value, "No tax"),
                                                   (TaxMode.INCLUSIVE.value, "Fixed rate, included in prices"),
                                                   (TaxMode.EXCLUSIVE.value, "Fixed rate, added on top of prices"),
                                                   (TaxMode.STRIPE.value, "Stripe Tax (calculated at checkout)")]))
    tax_rate = StringField("Rate (%)", validators=[Optional(), Length(max=10)])
    tax_label = StringField("Label on receipts", validators=[Length(max=40), _no_control_characters])

    def validate_tax_rate(self, field):
        if self.tax_mode.data in (TaxMode.INCLUSIVE.value, TaxMode.EXCLUSIVE.value):
            if not field.data:
                raise ValidationError("Enter the tax rate, like 8.25.")
            try:
                rate = Decimal(field.data.strip().rstrip("%"))
            except InvalidOperation:
                raise ValidationError("Enter the rate as a number, like 8.25.") from None
            if not rate.is_finite() or not 0 < rate <= 100 or rate != rate.quantize(Decimal("0.01")):
                raise ValidationError("Use a rate above 0 and at most 100, with up to two decimals.")


class WaiverForm(WholeForm):
    waiver = TextAreaField("Waiver text", validators=[Length(max=20000), _no_control_characters])


class RunnerQuestionsForm(WholeForm):
    tshirt_sizes = StringField("T-shirt sizes", validators=[Length(max=200)])
    ask_gender = BooleanField("Ask runners for their gender (optional for them)")

    def validate_tshirt_sizes(self, field):
        sizes = [s.strip() for s in (field.data or "").split(",") if s.strip()]
        if len(sizes) > 15 or any(len(s) > 10 for s in sizes):
            raise ValidationError("List up to 15 sizes, each at most 10 characters, separated by commas.")


def _https_only(form, field):
    if field.data and not field.data.startswith("https://"):
        raise ValidationError("Use an https:// link.")


def _social_form(kind: str) -> type[WholeForm]:
    class SocialForm(WholeForm):
        url = StringField(SOCIAL_KINDS[kind], validators=[
            Optional(), Length(max=500), URL(require_tld=True, message="Paste the full link, starting with https://"),
            _https_only])

    SocialForm.__name__ = f"Social{kind.title()}Form"
    return SocialForm


# Each field group of services/race_fields.GROUPS: its form, and the editor section it lives in.
GROUP_FORMS: dict[str, tuple[type[WholeForm], str]] = {
    "title": (TitleForm, "basics"), "slug": (SlugForm, "basics"), "summary": (SummaryForm, "basics"),
    "description": (DescriptionForm, "description"), "when": (WhenForm, "when"), "closes": (ClosesForm, "when"),
    "where": (WhereForm, "where"), "currency": (CurrencyForm, "money"), "tax": (TaxForm, "money"),
    "waiver": (WaiverForm, "waiver"), "runner-questions": (RunnerQuestionsForm, "runners"),
    **{f"social-{kind}": (_social_form(kind), "social") for kind in SOCIAL_KINDS},
}


def submitted(form: FlaskForm) -> dict:
    """A group form's parsed values by field name, for services.race_fields.save_field_group."""
    return {field.name: field.data for field in form if field.name != "csrf_token"}


# --- ticket types ----------------------------------------------------------------------------

class TicketTypeForm(WholeForm):
    name = StringField("Name", validators=[DataRequired("Give the ticket a name, like 10K."), Length(max=80)])
    description = StringField("Description", validators=[Length(max=280)])
    price = StringField("Price", validators=[DataRequired("Enter a price (0 for free).")])
    capacity = StringField("Spots", validators=[DataRequired("How many spots?")])
    min_age = StringField("Minimum age")
    max_age = StringField("Maximum age")
    sales_start = StringField("On sale from")
    sales_end = StringField("On sale until")

    def typed(self) -> dict[str, str]:
        """What was typed, for services.ticket_types to parse in the race's currency and timezone."""
        return submitted(self)


# --- discount codes --------------------------------------------------------------------------

CODE_CHARACTERS = re.compile(r"^[\w-]+$")
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
WHEN_MESSAGE = "Enter a date and time, like 2027-03-01 09:00."


class DiscountCodeForm(WholeForm):
    """A discount code, parsed once into model values (`values()`): money in the race's currency, the
    validity window from the race's local time to UTC, and a ticket type of this race only."""

    code = StringField("Code", validators=[
        DataRequired("Enter a code, like FRIENDS."),
        Length(min=3, max=CODE_MAX_LENGTH, message=f"Use 3 to {CODE_MAX_LENGTH} characters.")])
    kind = RadioField("Discount", choices=[SelectChoice("percent", "Percent off"), SelectChoice("amount", "Amount off")],
                      default="percent", validate_choice=False)
    value = StringField("How much", validators=[DataRequired("Enter how much the code takes off.")])
    ticket_type = SelectField("Applies to", validate_choice=False, default="")
    starts_at = DateTimeLocalField("Valid from", format=LOCAL_FORMATS, validators=[Optional()],
                                   invalid_value_message=WHEN_MESSAGE)
    ends_at = DateTimeLocalField("Valid until", format=LOCAL_FORMATS, validators=[Optional()],
                                 invalid_value_message=WHEN_MESSAGE)
    max_uses = StringField("Maximum uses")
    active = BooleanField("Active: buyers can use it", default=True)

    def __init__(self, *args, race: Race, ticket_types: list[TicketType], editing: DiscountCode | None = None,
                 **kwargs):
        if editing is not None and request.method == "GET":
            kwargs.update(self.initial(editing, race))
        super().__init__(*args, **kwargs)
        self.race = race
        self.ticket_types = {t.id: t for t in ticket_types}
        self.ticket_type.choices = [SelectChoice("", "All tickets")] + [
            SelectChoice(str(t.id), t.name) for t in ticket_types]
        self.value.description = (f"A percentage from 1 to 100, or an amount in {race.currency}, "
                                  f"like {money_text(500, race.currency)}.")
        self.starts_at.description = self.ends_at.description = f"In the race's time zone ({race.timezone})."
        self.max_uses.description = "Leave empty for no limit."
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
            raise ValidationError("Use letters, digits, dashes or underscores (no spaces).")
        self._parsed["code"] = text

    def validate_kind(self, field):
        if field.data not in ("percent", "amount"):
            raise ValidationError("Choose percent or amount off.")

    def validate_value(self, field):
        text = (field.data or "").strip()
        if self.kind.data == "percent":
            if not text.rstrip("%").strip().isdigit() or not 1 <= int(text.rstrip("%").strip()) <= 100:
                raise ValidationError("Enter a whole percentage from 1 to 100.")
            percent, amount = int(text.rstrip("%").strip()), None
        elif self.kind.data == "amount":
            try:
                amount = to_minor(text, self.race.currency)
            except (ValueError, ArithmeticError):
                raise ValidationError(f"Enter the amount as a number, like {money_text(500, self.race.currency)}.") from None
            if amount <= 0:
                raise ValidationError("The amount has to be more than 0.")
            if amount > 100_000 * 10 ** minor_digits(self.race.currency):
                raise ValidationError("That's more than any ticket costs. Use at most 100,000.")
            percent = None
        else:
            return  # the kind's own error says what to fix
        self._parsed.update(kind=DiscountKind(self.kind.data), percent_off=percent, amount_off=amount)

    def validate_ticket_type(self, field):
        raw = field.data or ""
        if raw == "":
            self._parsed["ticket_type_id"] = None
        elif raw.isdigit() and int(raw) in self.ticket_types:
            self._parsed["ticket_type_id"] = int(raw)
        else:
            raise ValidationError("Pick one of this race's ticket types, or all tickets.")

    def validate_starts_at(self, field):
        self._parsed["starts_at"] = self._utc(field.data)

    def validate_ends_at(self, field):
        ends = self._utc(field.data)
        starts = self._utc(self.starts_at.data) if not self.starts_at.errors else None
        if ends is not None and starts is not None and ends <= starts:
            raise ValidationError("The code has to end after it starts.")
        self._parsed["ends_at"] = ends

    def validate_max_uses(self, field):
        raw = (field.data or "").strip()
        if not raw:
            self._parsed["max_uses"] = None
            return
        if not raw.isdigit() or len(raw) > 7 or int(raw) < 1:
            raise ValidationError("Enter a whole number of uses, 1 or more, or leave it empty for no limit.")
        self._parsed["max_uses"] = int(raw)

    def _utc(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=ZoneInfo(self.race.timezone)).astimezone(ZoneInfo("UTC"))

    def values(self) -> dict:
        """The values that parsed, ready for the model (all of them once validate() succeeded)."""
        return {**self._parsed, "active": bool(self.active.data)}


# --- the team --------------------------------------------------------------------------------

class InviteForm(FlaskForm):
    email = StringField("Email address", validators=[DataRequired("Enter the email address to invite."),
                                                     Length(max=320, message="That address is too long.")])

    def validate_email(self, field):
        try:
            validate_email((field.data or "").strip(), check_deliverability=False)
        except EmailNotValidError:
            raise ValidationError("Enter a full email address, like sam@example.com.") from None


# --- one registrant --------------------------------------------------------------------------

class RegistrantForm(WholeForm, RunnerDetailsForm):
    """An organizer's correction of a runner's details; the rules are services.registrants.edits.edit_problems."""

    def bind(self, race: Race, registrant: Registrant) -> RegistrantForm:
        registration = registrant.registration
        genders = list(GENDERS) + ([registration.gender] if registration.gender and registration.gender not in GENDERS else [])
        sizes = race.tshirt_size_list + ([registration.tshirt_size] if registration.tshirt_size
                                         and registration.tshirt_size not in race.tshirt_size_list else [])
        self.gender.choices = [SelectChoice("", "Not given")] + [SelectChoice(x, x) for x in genders]
        self.tshirt_size.choices = [SelectChoice("", "No shirt")] + [SelectChoice(x, x) for x in sizes]
        return self

    @classmethod
    def of(cls, race: Race, registrant: Registrant) -> RegistrantForm:
        r = registrant.registration
        return cls(formdata=None, data={name: getattr(r, name) for name in EDITABLE}).bind(race, registrant)

    def values(self) -> dict:
        return {name: (self[name].data if name == "date_of_birth" else (self[name].data or ""))
                for name in EDITABLE}
