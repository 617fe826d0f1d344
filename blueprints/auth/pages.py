"""The account pages: sign-in, sign-up, sign-out, email links and password reset; and the language a person
chose on their profile, which the browser they sign in on takes."""
from __future__ import annotations

from flask import current_app, g, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from blueprints import languages
from blueprints.auth import (
    auth_limit,
    auth_provider,
    begin_session,
    bp,
    current_tokens,
    email_link_target,
    end_session,
    expired_claims,
    link_limit,
    login_required,
    new_csrf_secret,
    requested_next,
    send_sign_in_link,
    start_session,
    with_next,
)
from blueprints.auth_forms import ForgotForm, MagicLinkForm, ResetForm, SignInForm, SignUpForm
from blueprints.rendering import redirect_to, render
from extensions import db
from services.auth import EMAIL_LINK_TYPES, AuthError
from services.auth.sessions import sign_out as end_auth_session


@bp.after_app_request
def language_from_the_profile(response):
    """Signing in (here, or the cart's "Sign in and pay") sets this browser's language cookie from the profile's
    language, chosen with the switcher on another device, so this one follows."""
    if language := g.pop("sign_in_language", None):
        response.set_cookie(languages.LANGUAGE_COOKIE, language, max_age=languages.COOKIE_MAX_AGE, httponly=True,
                            samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def _form_page(template: str, form: FlaskForm, status: int = 200, **ctx):
    return render(template, block="form", form=form, status=status, next_url=requested_next(), **ctx)


def _refused(template: str, form: FlaskForm, error: AuthError, **ctx):
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
        ctx["form_error"] = None
    else:
        ctx["form_error"] = error.message
    return _form_page(template, form, status=error.status, **ctx)


# --- views -------------------------------------------------------------------------------

@bp.route("/sign-in", methods=["GET", "POST"])
@auth_limit
def sign_in():
    """Sign in with email and password, then go back where you came from."""
    next_url = requested_next()
    if g.user is not None and request.method == "GET":
        return redirect_to(next_url)
    form = SignInForm(next=next_url)
    if request.method == "GET":
        return _form_page("auth/sign_in.html", form, form_error=None)
    if not form.validate():
        return _form_page("auth/sign_in.html", form, status=422, form_error=None)
    try:
        tokens = auth_provider().sign_in(form.email.data, form.password.data)
    except AuthError as error:
        return _refused("auth/sign_in.html", form, error)
    begin_session(tokens)
    return redirect_to(next_url)


@bp.route("/sign-up", methods=["GET", "POST"])
@auth_limit
def sign_up():
    """Create an account; confirm the email address when the provider asks for it."""
    next_url = requested_next()
    if g.user is not None and request.method == "GET":
        return redirect_to(next_url)
    form = SignUpForm(next=next_url)
    if request.method == "GET":
        return _form_page("auth/sign_up.html", form, form_error=None)
    if not form.validate():
        return _form_page("auth/sign_up.html", form, status=422, form_error=None)
    confirm_url = email_link_target(next_url)
    try:
        result = auth_provider().sign_up(form.email.data, form.password.data,
                                         full_name=form.full_name.data.strip(), redirect_to=confirm_url)
    except AuthError as error:
        return _refused("auth/sign_up.html", form, error)
    if result.session is not None:
        begin_session(result.session)
        return redirect_to(next_url)
    return render("auth/check_email.html", email=form.email.data, next_url=next_url, purpose="confirm")


@bp.post("/sign-out")
def sign_out():
    """Sign out of this browser: its session is refused from now on, on every app server (offline.py clears the device)."""
    claims = g.get("auth_claims") or expired_claims()
    if claims is not None:
        end_auth_session(db.session, auth_provider(), current_tokens(), claims)
    new_csrf_secret()
    end_session()
    return redirect_to(url_for("races.index"))


@bp.get("/confirm")
def confirm():
    """Where email links land: confirm the address (or start a password reset) and sign in."""
    token_hash = request.args.get("token_hash", "")
    link_type = request.args.get("type", "")
    next_url = requested_next()
    if not token_hash or len(token_hash) > 500 or link_type not in EMAIL_LINK_TYPES:
        return render("auth/link_problem.html", next_url=next_url,
                      message=_("This link is incomplete. Copy the whole link from the email, or ask for a new one."),
                      status=400)
    try:
        tokens = auth_provider().verify_email_link(token_hash, link_type)
    except AuthError as error:
        return render("auth/link_problem.html", next_url=next_url, message=error.message, status=400)
    begin_session(tokens)
    if link_type == "recovery":
        return redirect_to(with_next("auth.reset", next_url))
    return redirect_to(next_url)


def _email_link_page(template: str, form: FlaskForm, send, purpose: str):
    """A form that only asks for an email address and emails a link: `send(email, next_url)`."""
    if request.method == "GET":
        return _form_page(template, form, form_error=None)
    if not form.validate():
        return _form_page(template, form, status=422, form_error=None)
    try:
        send(form.email.data, requested_next())
    except AuthError as error:
        return _refused(template, form, error)
    return render("auth/check_email.html", email=form.email.data, next_url=requested_next(), purpose=purpose)


@bp.route("/forgot", methods=["GET", "POST"])
@auth_limit
def forgot():
    """Ask for a password reset link."""
    def send(email, next_url):
        auth_provider().send_password_reset(email, redirect_to=email_link_target(next_url))

    return _email_link_page("auth/forgot.html", ForgotForm(next=requested_next()), send, "reset")


@bp.route("/link", methods=["GET", "POST"])
@link_limit
def magic_link():
    """Ask for a one-time sign-in link by email: no password needed."""
    return _email_link_page("auth/magic_link.html", MagicLinkForm(next=requested_next()), send_sign_in_link, "link")


@bp.route("/reset", methods=["GET", "POST"])
@login_required
def reset():
    """Choose a new password (reached from a reset link, or while signed in)."""
    form = ResetForm(next=requested_next())
    if request.method == "GET":
        return _form_page("auth/reset.html", form, form_error=None)
    if not form.validate():
        return _form_page("auth/reset.html", form, status=422, form_error=None)
    try:
        tokens = auth_provider().update_password(current_tokens(), form.password.data)
    except AuthError as error:
        return _refused("auth/reset.html", form, error)
    start_session(tokens)
    return redirect_to(requested_next())
