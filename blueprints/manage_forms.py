"""The organizer's editor forms: one small Flask-WTF form per autosaved field or group.

Each `FieldGroup` says how to read the race's current values (as strings, for the conflict
check and the page), which form validates a submission, and how to apply it. The autosave
route and the no-JavaScript fallback both go through these, so no invalid value reaches
the database by either route.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, available_timezones

from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, InputRequired, Length, Optional, Regexp, ValidationError

from extensions import db
from models import SOCIAL_KINDS, Order, OrderStatus, Race, RaceSocialLink, TaxMode
from services import race_editing
from services.money import CURRENCIES
from services.races import SLUG_RE

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


class _Form(FlaskForm):
    """Editor forms: the race being edited is available to validators as `form.race`."""

    race: Race | None = None


def _no_control_characters(form, field):
    if field.data and any(ord(ch) < 32 and ch not in "\n\r\t" for ch in field.data):
        raise ValidationError("Remove the invisible control characters from this text.")


class TitleForm(_Form):
    title = StringField("Race name", validators=[DataRequired("A race needs a name."),
                                                 Length(max=120, message="Keep the name under 120 characters."),
                                                 _no_control_characters])


class SlugForm(_Form):
    slug = StringField("Web address", validators=[
        DataRequired("The race needs a web address."), Length(min=3, max=80, message="Use 3 to 80 characters."),
        Regexp(SLUG_RE.pattern, message="Use lowercase letters, numbers and single dashes, like spring-5k.")])

    def validate_slug(self, field):
        taken = db.session.scalar(select(Race.id).where(Race.slug == field.data, Race.id != self.race.id))
        if taken:
            raise ValidationError("Another race already uses this address.")


class SummaryForm(_Form):
    summary = StringField("One-line summary", validators=[Length(max=280, message="Keep it under 280 characters."),
                                                          _no_control_characters])


class DescriptionForm(_Form):
    description = TextAreaField("Description", validators=[Length(max=20000, message="Keep it under 20,000 characters."),
                                                           _no_control_characters])


class WhenForm(_Form):
    day = DateField("Race day", validators=[InputRequired("Pick the race day.")],
                    invalid_value_message="Enter a real date, like 2027-05-02.")
    start = TimeField("Start time", validators=[InputRequired("Pick a start time.")],
                      invalid_value_message="Enter a time like 07:30.")
    timezone = SelectField("Time zone", validate_choice=False)

    def validate_timezone(self, field):
        if field.data not in TIMEZONES:
            raise ValidationError("Pick a time zone from the list.")

    def validate_day(self, field):
        if field.data and not date(2000, 1, 1) <= field.data <= date(2100, 1, 1):
            raise ValidationError("Pick a date between 2000 and 2100.")


class ClosesForm(_Form):
    closes_day = DateField("Sign-up closes on", validators=[Optional()],
                           invalid_value_message="Enter a real date, like 2027-05-01.")
    closes_time = TimeField("at", validators=[Optional()], invalid_value_message="Enter a time like 18:00.")

    def validate_closes_day(self, field):
        if bool(field.data) != bool(self.closes_time.data):
            raise ValidationError("Give both a date and a time, or leave both empty for no deadline.")
        if field.data and self.closes_time.data:
            closes = race_editing.local_to_utc(field.data, self.closes_time.data, self.race.timezone)
            if closes > self.race.starts_at:
                raise ValidationError("Sign-up has to close before the start.")


class WhereForm(_Form):
    location_name = StringField("Venue", validators=[Length(max=160), _no_control_characters])
    address = StringField("Address", validators=[Length(max=300), _no_control_characters])


class CurrencyForm(_Form):
    currency = SelectField("Currency", choices=choices((c, c) for c in CURRENCIES))

    def validate_currency(self, field):
        if field.data != self.race.currency and db.session.scalar(
                select(Order.id).where(Order.race_id == self.race.id, Order.status != OrderStatus.CART).limit(1)):
            raise ValidationError("Tickets were sold in this currency already, so it can't change.")


class TaxForm(_Form):
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


class WaiverForm(_Form):
    waiver = TextAreaField("Waiver text", validators=[Length(max=20000), _no_control_characters])


class RunnerQuestionsForm(_Form):
    tshirt_sizes = StringField("T-shirt sizes", validators=[Length(max=200)])
    ask_gender = BooleanField("Ask runners for their gender (optional for them)")

    def validate_tshirt_sizes(self, field):
        sizes = [s.strip() for s in (field.data or "").split(",") if s.strip()]
        if len(sizes) > 15 or any(len(s) > 10 for s in sizes):
            raise ValidationError("List up to 15 sizes, each at most 10 characters, separated by commas.")


def _social_form(kind: str) -> type[_Form]:
    class SocialForm(_Form):
        url = StringField(SOCIAL_KINDS[kind], validators=[
            Optional(), Length(max=500), URL(require_tld=True, message="Paste the full link, starting with https://")])

        def validate_url(self, field):
            if field.data and not field.data.startswith("https://"):
                raise ValidationError("Use an https:// link.")

    SocialForm.__name__ = f"Social{kind.title()}Form"
    return SocialForm


# --- how each group reads and writes the race ---------------------------------------------

def _local(race: Race, value: datetime | None) -> datetime | None:
    return value.astimezone(ZoneInfo(race.timezone)) if value else None


def _rate_text(bps: int) -> str:
    return f"{Decimal(bps) / 100:f}".rstrip("0").rstrip(".") if bps else ""


@dataclass(frozen=True)
class FieldGroup:
    name: str
    form: type[_Form]
    current: Callable[[Race, Session], dict[str, str]]
    apply: Callable[[Session, Race, _Form], None]
    section: str  # where on the editor page it lives


def _set(**mapping: str) -> Callable[[Session, Race, _Form], None]:
    """Copy form fields to race attributes: _set(title="title")."""
    def apply(session: Session, race: Race, form: _Form) -> None:
        for attribute, field_name in mapping.items():
            value = form[field_name].data
            setattr(race, attribute, value.strip() if isinstance(value, str) else value)
    return apply


def _apply_when(session, race, form):
    race.timezone = form.timezone.data
    race.starts_at = race_editing.local_to_utc(form.day.data, form.start.data, form.timezone.data)


def _apply_closes(session, race, form):
    if form.closes_day.data and form.closes_time.data:
        race.registration_closes_at = race_editing.local_to_utc(form.closes_day.data, form.closes_time.data,
                                                                race.timezone)
    else:
        race.registration_closes_at = None


def _apply_tax(session, race, form):
    race.tax_mode = TaxMode(form.tax_mode.data)
    fixed = race.tax_mode in (TaxMode.INCLUSIVE, TaxMode.EXCLUSIVE)
    race.tax_rate_bps = int(Decimal(form.tax_rate.data.strip().rstrip("%")) * 100) if fixed else 0
    race.tax_label = form.tax_label.data.strip()


def _apply_waiver(session, race, form):
    race_editing.set_waiver_text(session, race, form.waiver.data or "")


def _apply_runner_questions(session, race, form):
    race.tshirt_sizes = ",".join(s.strip() for s in (form.tshirt_sizes.data or "").split(",") if s.strip())
    race.ask_gender = bool(form.ask_gender.data)


def _current_when(race, session):
    local = _local(race, race.starts_at)
    return {"day": local.date().isoformat(), "start": local.strftime("%H:%M"), "timezone": race.timezone}


def _current_closes(race, session):
    local = _local(race, race.registration_closes_at)
    if local is None:
        return {"closes_day": "", "closes_time": ""}
    return {"closes_day": local.date().isoformat(), "closes_time": local.strftime("%H:%M")}


def _current_waiver(race, session):
    waiver = race_editing.current_waiver(session, race.id)
    return {"waiver": waiver.text if waiver else ""}


def _social_current(kind):
    def current(race, session):
        url = session.scalar(select(RaceSocialLink.url).where(RaceSocialLink.race_id == race.id,
                                                              RaceSocialLink.kind == kind))
        return {"url": url or ""}
    return current


def _social_apply(kind):
    def apply(session, race, form):
        race_editing.set_social_link(session, race, kind, (form.url.data or "").strip())
    return apply


GROUPS: dict[str, FieldGroup] = {g.name: g for g in [
    FieldGroup("title", TitleForm, lambda r, s: {"title": r.title}, _set(title="title"), "basics"),
    FieldGroup("slug", SlugForm, lambda r, s: {"slug": r.slug}, _set(slug="slug"), "basics"),
    FieldGroup("summary", SummaryForm, lambda r, s: {"summary": r.summary}, _set(summary="summary"), "basics"),
    FieldGroup("description", DescriptionForm, lambda r, s: {"description": r.description},
               _set(description="description"), "description"),
    FieldGroup("when", WhenForm, _current_when, _apply_when, "when"),
    FieldGroup("closes", ClosesForm, _current_closes, _apply_closes, "when"),
    FieldGroup("where", WhereForm, lambda r, s: {"location_name": r.location_name, "address": r.address},
               _set(location_name="location_name", address="address"), "where"),
    FieldGroup("currency", CurrencyForm, lambda r, s: {"currency": r.currency}, _set(currency="currency"), "money"),
    FieldGroup("tax", TaxForm, lambda r, s: {"tax_mode": r.tax_mode.value, "tax_rate": _rate_text(r.tax_rate_bps),
                                             "tax_label": r.tax_label}, _apply_tax, "money"),
    FieldGroup("waiver", WaiverForm, _current_waiver, _apply_waiver, "waiver"),
    FieldGroup("runner-questions", RunnerQuestionsForm,
               lambda r, s: {"tshirt_sizes": r.tshirt_sizes, "ask_gender": "y" if r.ask_gender else ""},
               _apply_runner_questions, "runners"),
    *[FieldGroup(f"social-{kind}", _social_form(kind), _social_current(kind), _social_apply(kind), "social")
      for kind in SOCIAL_KINDS],
]}


def submitted_values(form: _Form, group: FieldGroup) -> dict[str, str]:
    """The form's values as the strings `current` would give, for the conflict check."""
    values = {}
    for name, field in form._fields.items():
        if name == "csrf_token":
            continue
        data = field.data
        if isinstance(data, bool):
            values[name] = "y" if data else ""
        elif isinstance(data, time):
            values[name] = data.strftime("%H:%M")
        elif isinstance(data, date):
            values[name] = data.isoformat()
        else:
            values[name] = (data or "").strip() if isinstance(data, str) else ("" if data is None else str(data))
    return values
