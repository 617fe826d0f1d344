"""The runner form: one per ticket, judged by services.runners so the form and the payment step agree."""
from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from markupsafe import escape
from wtforms import BooleanField, DateField, EmailField, HiddenField, SelectField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from blueprints import form_widgets
from models import Profile, Race, Registration, TicketType, WaiverVersion
from services.runners import GENDERS, SHARED_FIELDS, RunnerDetails, age_note, gender_label, runner_problems
from services.typed_input import is_whole_number

# Fields whose message can change when another one does: a signature must match the names
# above it, and a date of birth decides whether a guardian signs.
DEPENDENT_FIELDS = {
    "first_name": ("waiver_signature",),
    "last_name": ("waiver_signature",),
    "date_of_birth": ("waiver_guardian_name", "waiver_signature"),
    "waiver_guardian_name": ("waiver_signature",),
}


class EscapedLazyString(LazyString):
    """Flask-Babel's lazy string, escaped when put in HTML like a plain one ("contact's" as "contact&#39;s"):
    Flask-Babel's own `__html__` calls its text safe markup."""

    def __html__(self) -> str:
        return str(escape(str(self)))


def _l(text: str) -> EscapedLazyString:
    """lazy_gettext for the form's labels and messages: translated when shown, in that request's language."""
    return EscapedLazyString(_, text)


# Runner form fields that are not checked as they are typed (hidden, or choices rather than details).
NOT_ON_THE_FORM = ("csrf_token", "waiver_version", "same_as_first", "runner_fills_in")


class RunnerDetailsForm(FlaskForm):
    """A runner's details, as the buyer fills them in and as an organizer corrects them.

    The rules live in services/runners.py, so both forms refuse the same values.
    """

    first_name = StringField(_l("First name"), widget=form_widgets.TextInput())
    last_name = StringField(_l("Last name"), widget=form_widgets.TextInput())
    email = EmailField(_l("Email"), widget=form_widgets.EmailInput())
    date_of_birth = DateField(_l("Date of birth"), validators=[Optional()], widget=form_widgets.DateInput(),
                              invalid_value_message=_l("Enter a real date, like 1990-04-21."))
    gender = SelectField(_l("Gender"), validate_choice=False, widget=form_widgets.Select())
    tshirt_size = SelectField(_l("T-shirt size"), validate_choice=False, widget=form_widgets.Select())
    emergency_name = StringField(_l("Emergency contact's name"), widget=form_widgets.TextInput())
    emergency_phone = TelField(_l("Emergency contact's phone"), widget=form_widgets.TelInput())


class RunnerForm(RunnerDetailsForm):
    address = StringField(_l("Address"), widget=form_widgets.TextInput())
    city = StringField(_l("City"), widget=form_widgets.TextInput())
    country = StringField(_l("Country"), widget=form_widgets.TextInput())
    club = StringField(_l("Club or team"), widget=form_widgets.TextInput())
    runner_fills_in = BooleanField(_l("Let them fill in and sign"))
    same_as_first = BooleanField(_l("Same as runner 1"))
    waiver_guardian_name = StringField(_l("Parent or guardian's name"), widget=form_widgets.TextInput())
    waiver_accepted = BooleanField(_l("I have read the waiver above and accept it"))
    waiver_signature = StringField(_l("Signature"), widget=form_widgets.TextInput())
    waiver_version = HiddenField()

    race: Race
    ticket_type: TicketType
    waiver: WaiverVersion | None
    now: datetime
    buyer_email: str | None = None

    def bind(self, race: Race, ticket_type: TicketType, waiver: WaiverVersion | None, now: datetime,
             buyer_email: str | None = None) -> RunnerForm:
        """Give the form what its rules depend on, and the choices the race offers."""
        self.race, self.ticket_type, self.waiver, self.now = race, ticket_type, waiver, now
        self.buyer_email = buyer_email
        self.gender.choices = [SelectChoice("", _("Not given"))] + [SelectChoice(g, gender_label(g)) for g in GENDERS]
        self.tshirt_size.choices = [SelectChoice("", _("Choose a size"))] + [SelectChoice(s, s) for s in race.tshirt_size_list]
        if waiver is not None and not self.waiver_version.data:
            self.waiver_version.data = str(waiver.id)
        return self

    @classmethod
    def for_registration(cls, registration: Registration, prefix: str = "") -> RunnerForm:
        """The form as saved so far (a fresh ticket's form is empty)."""
        return cls(formdata=None, prefix=prefix, data=cls.saved_data(registration))

    @staticmethod
    def saved_data(registration: Registration) -> dict:
        """The fields' data as the ticket holds it."""
        return {
            "first_name": registration.first_name, "last_name": registration.last_name,
            "email": registration.email, "date_of_birth": registration.date_of_birth,
            "gender": registration.gender, "tshirt_size": registration.tshirt_size,
            "emergency_name": registration.emergency_name, "emergency_phone": registration.emergency_phone,
            "address": registration.address, "city": registration.city, "country": registration.country,
            "club": registration.club, "runner_fills_in": registration.awaiting_runner,
            "waiver_guardian_name": registration.waiver_guardian_name,
            "waiver_accepted": registration.waiver_signed_at is not None,
            "waiver_signature": registration.waiver_signature,
        }

    def fill_in_buyer(self, profile: Profile) -> None:
        """"This is me": the signed-in buyer's name and email, split as well as a full name allows."""
        first, _space, last = (profile.full_name or "").strip().rpartition(" ")
        if not first:
            first, last = last, ""
        self.first_name.data, self.last_name.data = first, last
        self.email.data = profile.email

    def copy_shared(self, source: RunnerDetails) -> None:
        """"Same as runner 1": their emergency contact, address and club, in place of what was typed here."""
        for name in SHARED_FIELDS:
            self[name].data = getattr(source, name)

    def typed_name(self) -> str:
        """The runner's name as the form holds it now (saved, typed or filled in), "" before any."""
        return f"{(self.first_name.data or '').strip()} {(self.last_name.data or '').strip()}".strip()

    def details(self) -> RunnerDetails:
        version = (self.waiver_version.data or "").strip()
        return RunnerDetails(
            first_name=self.first_name.data or "", last_name=self.last_name.data or "",
            email=self.email.data or "", date_of_birth=self.date_of_birth.data,
            gender=self.gender.data or "", tshirt_size=self.tshirt_size.data or "",
            emergency_name=self.emergency_name.data or "", emergency_phone=self.emergency_phone.data or "",
            address=self.address.data or "", city=self.city.data or "", country=self.country.data or "",
            club=self.club.data or "", runner_fills_in=bool(self.runner_fills_in.data),
            waiver_guardian_name=self.waiver_guardian_name.data or "",
            waiver_accepted=bool(self.waiver_accepted.data), waiver_signature=self.waiver_signature.data or "",
            # A form without the version it showed signs nothing: 0 matches no waiver.
            waiver_version_id=int(version) if is_whole_number(version) else 0)

    def validate(self, extra_validators=None) -> bool:
        """Parse (dates, the CSRF token), then apply every runner rule; errors land beside their fields."""
        super().validate(extra_validators)
        for name, message in runner_problems(self.details(), self.race, self.ticket_type, self.waiver,
                                             self.now, buyer_email=self.buyer_email).items():
            if not self[name].errors:
                self[name].errors = [*self[name].errors, message]
        return not self.errors

    def note(self, name: str) -> str | None:
        """A helpful line shown beside a field that is fine (the age that counts on race day)."""
        if name == "date_of_birth" and not self.date_of_birth.errors:
            return age_note(self.details(), self.race, self.now)
        return None
