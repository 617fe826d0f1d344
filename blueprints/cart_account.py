"""The cart's way to payment, one click: save the runners typed in above, and for a visitor create their
account (or sign them in) and bring the cart along, then reserve and go to the payment page."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from blueprints.auth import auth_provider, begin_session, email_link_target, send_sign_in_link
from blueprints.auth_forms import MagicLinkForm, SignInForm, SignUpForm
from blueprints.cart import _own_cart_or_404, cart_page, race_or_404
from blueprints.cart_owner import CART_NOTICE, cart_link, merge_guest_carts_into_account
from blueprints.cart_runners import save_posted_runners
from blueprints.checkout import pay
from blueprints.rendering import redirect_to, render
from blueprints.runner_cards import posted_form
from extensions import db, limiter
from models import Order, Race
from services import cart as cart_service
from services import clock
from services.auth import AuthError, AuthSession
from services.cart import CartOwner
from services.cart_status import view_cart
from services.runners import waiver_to_sign

bp = Blueprint("cart_account", __name__)

ACCOUNT_CART_JOINED = _l("Your account already had tickets for this race in its cart: they are all here now. "
                         "Check the cart, then continue to payment.")


def _failed_account_attempt(response) -> bool:
    """Only a refused sign-up or sign-in counts against the auth forms' shared limit, not a runner's typo."""
    return response.status_code >= 400 and bool(g.get("account_attempt_failed"))


def _mailed_or_failed_account_attempt(response) -> bool:
    """A sign-in link counts whether sent or refused (each is an email); a runner's typo still doesn't."""
    return bool(g.get("link_sent")) or _failed_account_attempt(response)


# Both count a refused sign-up or sign-in and every email sent (a link, a confirmation to an address).
_account_limit = limiter.shared_limit(lambda: current_app.config["AUTH_RATE_LIMIT"], scope="auth-forms",
                                      methods=["POST"], deduct_when=_mailed_or_failed_account_attempt)


def _refused(race: Race, order: Order, form: FlaskForm, error: AuthError | None = None):
    """The cart page again, the cart as it was, the account form with the message beside its field."""
    g.account_attempt_failed = True
    field = getattr(form, error.field, None) if error is not None and error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    general = error.message if error is not None and field is None else None
    return cart_page(race, order, status=error.status if error is not None else 422, account_form=form,
                     account_error=general)


def _signed_in_and_pay(race: Race, tokens: AuthSession):
    """Sign in with these tokens, move the visitor's cart into the account, then pay (or show the cart)."""
    profile = begin_session(tokens)
    if profile is None:  # the token can't be read just now: the next request is signed in and merges
        return redirect_to(url_for("cart.view", slug=race.slug))
    account = CartOwner(profile_id=profile.id)
    had_a_cart = cart_service.find_cart(db.session, account, race.id) is not None
    notices = merge_guest_carts_into_account()
    order = cart_service.find_cart(db.session, account, race.id)
    if had_a_cart and order is not None:  # the account's own tickets joined these: nobody pays for unseen ones
        flash(str(ACCOUNT_CART_JOINED), CART_NOTICE)
        return redirect_to(url_for("cart.view", slug=race.slug))
    if order is None or notices or not view_cart(db.session, order, clock.now()).ready:
        return redirect_to(url_for("cart.view", slug=race.slug))  # something to see before paying
    return pay(order)


def _account(race: Race, order: Order, form: FlaskForm):
    """Create the visitor's account or sign them in, then pay; the cart page with the reason when refused."""
    if not form.validate():
        return _refused(race, order, form)
    cart_url = url_for("cart.view", slug=race.slug)
    try:
        if isinstance(form, SignInForm):
            return _signed_in_and_pay(race, auth_provider().sign_in(form.email.data, form.password.data))
        # The confirmation link may open in another browser (a phone's mail app): it carries the cart.
        result = auth_provider().sign_up(form.email.data, form.password.data, full_name=form.full_name.data.strip(),
                                         redirect_to=email_link_target(cart_link(cart_url)))
    except AuthError as error:
        return _refused(race, order, form, error)
    if result.session is None:  # the address must be confirmed first; the cart waits (cookie, and the link)
        g.link_sent = True  # an email to someone: counted like a sign-in link
        return render("auth/check_email.html", email=form.email.data, next_url=cart_url, purpose="confirm")
    return _signed_in_and_pay(race, result.session)


def _save_runners(race: Race, order: Order, account_form: FlaskForm | None):
    """Save the runners posted with the click; the cart page with each runner's errors if any is refused."""
    waiver, now = waiver_to_sign(db.session, race.id), clock.now()
    tickets = cart_service.cart_registrations(db.session, order)
    forms = {r.id: posted_form(r, race, waiver, now) for r in tickets}
    invalid, saved = save_posted_runners(race, tickets, forms, waiver, now, everyone=True)
    if invalid:
        return cart_page(race, order, status=422, forms=invalid, saved=[r.runner_name for r in saved],
                         account_form=account_form)
    return None


@bp.post("/races/<slug>/cart/pay")
@_account_limit
def pay_for_cart(slug: str):
    """*Continue to payment* (or *Create account and pay*, *Sign in and pay*): everything in one click."""
    race = race_or_404(slug)
    order = _own_cart_or_404(race)
    account_form = None
    if g.user is None:
        account_form = SignInForm() if request.form.get("account_mode") == "sign-in" else SignUpForm()
    refused = _save_runners(race, order, account_form)
    if refused is not None:
        return refused
    if not view_cart(db.session, order, clock.now()).ready:
        return cart_page(race, order, status=422, account_form=account_form)
    if account_form is not None:
        return _account(race, order, account_form)
    return pay(order)


@bp.post("/races/<slug>/cart/link")
@_account_limit
def email_sign_in_link(slug: str):
    """*Email me a sign-in link*: save the runners, then email a link that signs in and comes back to this
    cart. The cart waits in its cookie and joins the account on the first signed-in request."""
    race = race_or_404(slug)
    order = _own_cart_or_404(race)
    cart_url = url_for("cart.view", slug=race.slug)
    if g.user is not None:
        return redirect_to(cart_url)
    form = MagicLinkForm()
    refused = _save_runners(race, order, form)
    if refused is not None:
        return refused
    if not form.validate():
        return _refused(race, order, form)
    try:
        send_sign_in_link(form.email.data, cart_link(cart_url))  # it may open in another browser: carry the cart
    except AuthError as error:
        return _refused(race, order, form, error)
    return render("auth/check_email.html", email=form.email.data, next_url=cart_url, purpose="link")
