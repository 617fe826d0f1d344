"""The organizer's forms: they check the shape of what was typed; services/ keep the rules.

The race editor has one small form per autosaved field group (`GROUP_FORMS`); the ticket type, invite
and registrant forms serve the pages of the same names, and the discount code form lives beside them
in code_form.py. A form parses what it can (dates, times); anything that needs the database or the
rest of the race is a rule of the service the view calls, which refuses with problems per field like
a form does. Every form that saves over stored values is a `WholeForm`.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from zoneinfo import available_timezones

from babel.core import get_global
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, InputRequired, Length, Optional, Regexp, ValidationError

from blueprints.cart_forms import RunnerDetailsForm
from blueprints.rendering import formatting_locale, zone_label
from models import SOCIAL_KINDS, Race, TaxMode
from services import clock
from services.languages import language_name, languages
from services.money import CURRENCIES
from services.race_editing import day_problem
from services.races import SLUG_RE
from services.registrants.desk_waiver import DeskSignature
from services.registrants.edits import EDITABLE, details_version
from services.registrants.query import Registrant
from services.runners import GENDERS, gender_label
from services.typed_input import is_whole_number

TIMEZONES = sorted(available_timezones() - {"localtime", "Factory"})
_COMMON_ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Lima",
                 "America/Mexico_City", "America/Sao_Paulo", "America/Toronto", "Europe/London", "Europe/Paris",
                 "Europe/Berlin", "Europe/Madrid", "Africa/Johannesburg", "Asia/Kolkata", "Asia/Singapore",
                 "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland", "UTC"]


def timezone_choices(current: str | None = None) -> list[SelectChoice]:
    """Common zones first, then every other zone once, each by the name people know it by ("Peru Time
    (Lima)"); `current` (a race's stored zone) is always among them, also when it is an old alias."""
    choices = _zone_choices(str(formatting_locale()))
    if current and current not in {c.value for c in choices}:
        return [SelectChoice(current, zone_label(current)), *choices]
    return choices


def first_timezone_choices(current: str | None = None) -> list[SelectChoice]:
    """What the editor's time zone menu holds as the page loads: the common zones and the race's own. The rest
    (~430 more options: two fifths of the editor's elements and of its HTML) static/js/editor.js fetches
    (manage.time_zones) once the page is idle, so the editor arrives sooner and its first render styles and lays
    out none of them (issue 17: its Lighthouse score)."""
    common = set(_COMMON_ZONES)
    return [choice for choice in timezone_choices(current) if choice.value in common or choice.value == current]


@cache
def _zone_choices(locale: str) -> list[SelectChoice]:
    # One list per language: the labels are in the page's language (cached once for all, a Spanish page's
    # "hora central (Chicago)" went on to English pages served by the same worker).
    # Aliases ("US/Eastern", "Asia/Calcutta") and zones that would read the same as one listed already
    # ("EST5EDT") are left out: a menu with three "Eastern Time (New York)" entries helps nobody.
    aliases = get_global("zone_aliases")
    common = [SelectChoice(zone, zone_label(zone)) for zone in _COMMON_ZONES]
    seen = {choice.label for choice in common}
    rest = {}
    for zone in TIMEZONES:
        label = zone_label(zone)
        if zone not in aliases and label not in seen and label not in rest:
            rest[label] = SelectChoice(zone, label)
    return common + [rest[label] for label in sorted(rest)]


def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def first_errors(form: FlaskForm) -> dict[str, str]:
    """Each field's first error by field name (read from the fields, so errors set after validate() count)."""
    return {field.name: field.errors[0] for field in form if field.errors}


def show_problems(form: FlaskForm, problems: dict[str, str]) -> None:
    """Put a service's refusal beside the fields it names."""
    for name, message in problems.items():
        form[name].errors = [message]


MISSING_FIELD = _l("This field was missing from what your browser sent, so nothing was saved. Reload the page and try again.")


SENT_TWICE = _l("This field was sent more than once, so nothing was saved. Reload the page and try again.")


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
            elif field.raw_data and len(field.raw_data) > 1:
                # Which of two values to keep is a guess; a page never sends one field twice.
                field.errors = [SENT_TWICE]
                valid = False
        return valid


def _known_timezone(form, field):
    if field.data not in TIMEZONES:
        raise ValidationError(_("Pick a time zone from the list."))


def _no_control_characters(form, field):
    if field.data and any(ord(ch) < 32 and ch not in "\n\r\t" for ch in field.data):
        raise ValidationError(_("Remove the invisible control characters from this text."))


# --- a new race ------------------------------------------------------------------------------

class NewRaceForm(FlaskForm):
    title = StringField(_l("Race name"), validators=[DataRequired(_l("Give the race a name.")), Length(max=120)])
    day = DateField(_l("Race day"), validators=[InputRequired(_l("Pick the race day."))],
                    invalid_value_message=_l("Enter a real date, like 2027-05-02."))
    timezone = SelectField(_l("Time zone"), validate_choice=False, validators=[_known_timezone])
    currency = SelectField(_l("Currency"), choices=choices((c, c) for c in CURRENCIES))

    def validate_day(self, field):
        today = clock.now().date()
        if field.data and not today <= field.data <= date(today.year + 5, 12, 31):
            raise ValidationError(_("Pick a day from today to five years ahead."))


# --- the editor's field groups ---------------------------------------------------------------

class TitleForm(WholeForm):
    title = StringField(_l("Race name"), validators=[DataRequired(_l("A race needs a name.")),
                                                 Length(max=120, message=_l("Keep the name under 120 characters.")),
                                                 _no_control_characters])


class SlugForm(WholeForm):
    slug = StringField(_l("Web address"), validators=[
        DataRequired(_l("The race needs a web address.")), Length(min=3, max=80, message=_l("Use 3 to 80 characters.")),
        Regexp(SLUG_RE.pattern, message=_l("Use lowercase letters, numbers and single dashes, like spring-5k."))])


class SummaryForm(WholeForm):
    summary = StringField(_l("One-line summary"), validators=[Length(max=280, message=_l("Keep it under 280 characters.")),
                                                          _no_control_characters])


class DescriptionForm(WholeForm):
    description = TextAreaField(_l("Description"), validators=[Length(max=20000, message=_l("Keep it under 20,000 characters.")),
                                                           _no_control_characters])


class WhenForm(WholeForm):
    day = DateField(_l("Race day"), validators=[InputRequired(_l("Pick the race day."))],
                    invalid_value_message=_l("Enter a real date, like 2027-05-02."))
    start = TimeField(_l("Start time"), validators=[InputRequired(_l("Pick a start time."))],
                      invalid_value_message=_l("Enter a time like 07:30."))
    timezone = SelectField(_l("Time zone"), validate_choice=False, validators=[_known_timezone])

    def validate_day(self, field):
        if problem := day_problem(field.data):
            raise ValidationError(problem)


class ClosesForm(WholeForm):
    closes_day = DateField(_l("Sign-up closes on"), validators=[Optional()],
                           invalid_value_message=_l("Enter a real date, like 2027-05-01."))
    closes_time = TimeField(_l("at"), validators=[Optional()], invalid_value_message=_l("Enter a time like 18:00."))

    def validate_closes_day(self, field):
        if problem := day_problem(field.data):
            raise ValidationError(problem)
        if bool(field.data) != bool(self.closes_time.data):
            raise ValidationError(_("Give both a date and a time, or leave both empty for no deadline."))


class WhereForm(WholeForm):
    location_name = StringField(_l("Venue"), validators=[Length(max=160, message=_l("Keep it under 160 characters.")),
                                                        _no_control_characters])
    address = StringField(_l("Address"), validators=[Length(max=300, message=_l("Keep it under 300 characters.")),
                                                  _no_control_characters])


class CurrencyForm(WholeForm):
    currency = SelectField(_l("Currency"), choices=choices((c, c) for c in CURRENCIES))


class TaxForm(WholeForm):
    tax_mode = SelectField(_l("Tax"), choices=choices([(TaxMode.NONE.value, _l("No tax")),
                                                   (TaxMode.INCLUSIVE.value, _l("Fixed rate, included in prices")),
                                                   (TaxMode.EXCLUSIVE.value, _l("Fixed rate, added on top of prices")),
                                                   (TaxMode.STRIPE.value, _l("Stripe Tax (calculated at checkout)"))]))
    tax_rate = StringField(_l("Rate (%)"), validators=[Optional(), Length(max=10)])
    tax_label = StringField(_l("Label on receipts"), validators=[Length(max=40), _no_control_characters])

    def validate_tax_rate(self, field):
        if self.tax_mode.data in (TaxMode.INCLUSIVE.value, TaxMode.EXCLUSIVE.value):
            if not field.data:
                raise ValidationError(_("Enter the tax rate, like 8.25."))
            try:
                rate = Decimal(field.data.strip().rstrip("%"))
            except InvalidOperation:
                raise ValidationError(_("Enter the rate as a number, like 8.25.")) from None
            if not rate.is_finite() or not 0 < rate <= 100 or rate != rate.quantize(Decimal("0.01")):
                raise ValidationError(_("Use a rate above 0 and at most 100, with up to two decimals."))


class WaiverForm(WholeForm):
    waiver = TextAreaField(_l("Waiver text"), validators=[Length(max=20000, message=_l("Keep it under 20,000 characters.")),
                                                        _no_control_characters])


def _known_language(form, field):
    if field.data not in languages():
        raise ValidationError(_("We don't have that language. Choose one of the languages in the list."))


class LanguageForm(WholeForm):
    language = SelectField(_l("Race language"), validate_choice=False, validators=[_known_language],
                           choices=lambda: [SelectChoice(code, language_name(code)) for code in languages()])


class RunnerQuestionsForm(WholeForm):
    tshirt_sizes = StringField(_l("T-shirt sizes"), validators=[Length(max=200)])
    ask_gender = BooleanField(_l("Ask runners for their gender (optional for them)"))

    def validate_tshirt_sizes(self, field):
        sizes = [s.strip() for s in (field.data or "").split(",") if s.strip()]
        if len(sizes) > 15 or any(len(s) > 10 for s in sizes):
            raise ValidationError(_("List up to 15 sizes, each at most 10 characters, separated by commas."))


class WaitlistForm(WholeForm):
    waitlist_hold_hours = StringField(_l("Hold an offer for (hours)"), validators=[
        DataRequired(_l("Enter how many hours an offer holds its spots.")), Length(max=3, message=_l("Use 1 to 168 hours."))])

    def validate_waitlist_hold_hours(self, field):
        text = (field.data or "").strip()
        if not is_whole_number(text, 3) or not 1 <= int(text) <= 168:
            raise ValidationError(_("Use a whole number of hours from 1 to 168 (a week)."))
        field.data = text
def _until_fields(label: str):
    return (DateField(label, validators=[Optional()], invalid_value_message=_l("Enter a real date, like 2027-05-01.")),
            TimeField(_l("at"), validators=[Optional()], invalid_value_message=_l("Enter a time like 18:00.")))


class TransfersForm(WholeForm):
    transfers_enabled = BooleanField(_l("Runners may transfer their ticket to someone else"))
    transfers_day, transfers_time = _until_fields(_l("Transfers allowed until"))
    transfer_fee = StringField(_l("Transfer fee"), validators=[Length(max=20)])
    transfer_keeps_bib = BooleanField(_l("The new runner keeps the bib number"))


class DistanceChangesForm(WholeForm):
    distance_changes_enabled = BooleanField(_l("Runners may change to another distance"))
    distance_day, distance_time = _until_fields(_l("Distance changes allowed until"))
    distance_refund_difference = BooleanField(_l("Refund the difference when the new distance is cheaper"))


def _https_only(form, field):
    if field.data and not field.data.startswith("https://"):
        raise ValidationError(_("Use an https:// link."))


def _social_form(kind: str) -> type[WholeForm]:
    class SocialForm(WholeForm):
        url = StringField(SOCIAL_KINDS[kind], validators=[
            Optional(), Length(max=500), URL(require_tld=True, message=_l("Paste the full link, starting with https://")),
            _https_only])

    SocialForm.__name__ = f"Social{kind.title()}Form"
    return SocialForm


# Each field group of services/race_fields.GROUPS: its form, and the editor section it lives in.
GROUP_FORMS: dict[str, tuple[type[WholeForm], str]] = {
    "title": (TitleForm, "basics"), "slug": (SlugForm, "basics"), "summary": (SummaryForm, "basics"),
    "description": (DescriptionForm, "description"), "when": (WhenForm, "when"), "closes": (ClosesForm, "when"),
    "where": (WhereForm, "where"), "currency": (CurrencyForm, "money"), "tax": (TaxForm, "money"),
    "waiver": (WaiverForm, "waiver"), "runner-questions": (RunnerQuestionsForm, "runners"),
    "waitlist": (WaitlistForm, "waitlist"),
    "transfers": (TransfersForm, "changes"), "distance-changes": (DistanceChangesForm, "changes"),
    **{f"social-{kind}": (_social_form(kind), "social") for kind in SOCIAL_KINDS},
    "language": (LanguageForm, "languages"),
    **{f"description-{code}": (DescriptionForm, "description") for code in languages()},
    **{f"waiver-{code}": (WaiverForm, "waiver") for code in languages()},
}


def submitted(form: FlaskForm) -> dict:
    """A group form's parsed values by field name, for services.race_fields.save_field_group."""
    return {field.name: field.data for field in form if field.name != "csrf_token"}


# --- ticket types ----------------------------------------------------------------------------

class TicketTypeForm(WholeForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the ticket a name, like 10K.")), Length(max=80)])
    description = StringField(_l("Description"), validators=[Length(max=280)])
    price = StringField(_l("Price"), validators=[DataRequired(_l("Enter a price (0 for free)."))])
    capacity = StringField(_l("Spots"), validators=[DataRequired(_l("How many spots?"))])
    min_age = StringField(_l("Minimum age"))
    max_age = StringField(_l("Maximum age"))
    sales_start = StringField(_l("On sale from"))
    sales_end = StringField(_l("On sale until"))

    def typed(self) -> dict[str, str]:
        """What was typed, for services.ticket_types to parse in the race's currency and timezone."""
        return submitted(self)


# --- the team --------------------------------------------------------------------------------

class InviteForm(FlaskForm):
    email = StringField(_l("Email address"), validators=[DataRequired(_l("Enter the email address to invite.")),
                                                     Length(max=320, message=_l("That address is too long."))])

    def validate_email(self, field):
        try:
            validate_email((field.data or "").strip(), check_deliverability=False)
        except EmailNotValidError:
            raise ValidationError(_("Enter a full email address, like sam@example.com.")) from None


# --- one registrant --------------------------------------------------------------------------

class RegistrantForm(WholeForm, RunnerDetailsForm):
    """An organizer's correction of a runner's details; the rules are services.registrants.edits.edit_problems."""

    address = StringField(_l("Address"))
    city = StringField(_l("City"))
    country = StringField(_l("Country"))
    club = StringField(_l("Club or team"))
    opened = HiddenField()  # the details' version the form was opened with (edits.details_version)

    def bind(self, race: Race, registrant: Registrant) -> RegistrantForm:
        registration = registrant.registration
        genders = list(GENDERS) + ([registration.gender] if registration.gender and registration.gender not in GENDERS else [])
        sizes = race.tshirt_size_list + ([registration.tshirt_size] if registration.tshirt_size
                                         and registration.tshirt_size not in race.tshirt_size_list else [])
        self.gender.choices = [SelectChoice("", _("Not given"))] + [SelectChoice(x, gender_label(x)) for x in genders]
        self.tshirt_size.choices = [SelectChoice("", _("No shirt"))] + [SelectChoice(x, x) for x in sizes]
        return self

    @classmethod
    def of(cls, race: Race, registrant: Registrant) -> RegistrantForm:
        r = registrant.registration
        return cls(formdata=None, data={**{name: getattr(r, name) for name in EDITABLE},
                                        "opened": details_version(r)}).bind(race, registrant)

    def values(self) -> dict:
        return {name: (self[name].data if name == "date_of_birth" else (self[name].data or ""))
                for name in EDITABLE}


class DeskWaiverForm(FlaskForm):
    """The waiver signed on the organizer's phone at check-in; the rules are services.registrants.desk_waiver."""

    accepted = BooleanField(_l("The runner has read the waiver above and accepts it"))
    by_guardian = BooleanField(_l("A parent or guardian is signing (the runner is under 18)"))
    guardian_name = StringField(_l("Parent or guardian's full name"))
    signature = StringField(_l("Signature"))
    waiver_version = HiddenField()

    def signed(self) -> DeskSignature:
        version = (self.waiver_version.data or "").strip()
        return DeskSignature(signature=(self.signature.data or "")[:1000], accepted=bool(self.accepted.data),
                             by_guardian=bool(self.by_guardian.data),
                             guardian_name=(self.guardian_name.data or "")[:1000],
                             # A form without the version it showed signs nothing: 0 matches no waiver.
                             waiver_version_id=int(version) if is_whole_number(version) else 0)
