"""The account forms (sign-in, sign-up, forgotten and new password), each carrying where to go next."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length, ValidationError

from services.auth import password_problem


class _NextForm(FlaskForm):
    next = HiddenField()

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            # The messages are lazy: read them now, as text, which a template escapes (it takes a lazy string
            # for markup).
            field.errors = [str(error) for error in field.errors]
        return valid


def _strong_password(form, field):
    email = form.email.data if hasattr(form, "email") else ""
    problem = password_problem(field.data or "", email or "")
    if problem:
        raise ValidationError(problem)


def _email_field() -> EmailField:
    return EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email address.")),
                                               Email(_l("That doesn't look like an email address.")), Length(max=320)])


class SignInForm(_NextForm):
    email = _email_field()
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=200)])


class SignUpForm(_NextForm):
    full_name = StringField(_l("Your name"), validators=[DataRequired(_l("Tell us your name.")), Length(max=200)])
    email = _email_field()
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Choose a password.")), _strong_password])


class ForgotForm(_NextForm):
    email = _email_field()


class MagicLinkForm(ForgotForm):
    """Just the email address: a one-time link to sign in (the account is created if there is none)."""


class ResetForm(_NextForm):
    password = PasswordField(_l("New password"),
                             validators=[DataRequired(_l("Choose a new password.")), _strong_password])
