"""Account at payment: a visitor's cart page asks for an account inline (create one, or sign in),
brings the cart along and goes on to payment in the same click."""
from __future__ import annotations

from flask import Blueprint, g, url_for
from flask_wtf import FlaskForm

from blueprints.auth import auth_limit, auth_provider, begin_session, email_link_target
from blueprints.auth_forms import SignInForm, SignUpForm
from blueprints.cart import cart_page, find_own_cart, race_or_404
from blueprints.cart_owner import merge_guest_carts_into_account
from blueprints.checkout import pay
from blueprints.errors import abort_for_user
from blueprints.rendering import redirect_to, render
from extensions import db
from models import Order, Race
from services import cart as cart_service
from services import clock
from services.auth import AuthError, AuthSession
from services.cart import CartOwner
from services.cart_status import view_cart

bp = Blueprint("cart_account", __name__)


def _guest_cart_or_404(race: Race) -> Order | None:
    """The visitor's cart; None when they are signed in already (nothing to ask); 404 when they have none."""
    if g.user is not None:
        return None
    order = find_own_cart(race)
    if order is None:
        abort_for_user(404, "Your cart for this race is empty.")
    return order


def _refused(race: Race, order: Order, form: FlaskForm, error: AuthError | None = None, status: int = 422):
    """The cart page again, the cart as it was, the account form with the message beside its field."""
    field = getattr(form, error.field, None) if error is not None and error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    general = error.message if error is not None and field is None else None
    return cart_page(race, order, status=error.status if error is not None else status, account_form=form,
                     account_error=general)


def _signed_in_and_pay(race: Race, tokens: AuthSession):
    """Sign in with these tokens, move the visitor's cart into the account, then pay (or show the cart)."""
    profile = begin_session(tokens)
    if profile is None:  # the token can't be read just now: the next request is signed in and merges
        return redirect_to(url_for("cart.view", slug=race.slug))
    notices = merge_guest_carts_into_account()
    order = cart_service.find_cart(db.session, CartOwner(profile_id=profile.id), race.id)
    if order is None or notices or not view_cart(db.session, order, clock.now()).ready:
        return redirect_to(url_for("cart.view", slug=race.slug))  # something to see before paying
    return pay(order)


@bp.post("/races/<slug>/cart/account/sign-up")
@auth_limit
def sign_up(slug: str):
    """Create an account from the cart and pay: one click."""
    race = race_or_404(slug)
    order = _guest_cart_or_404(race)
    if order is None:
        return redirect_to(url_for("cart.view", slug=slug))
    form = SignUpForm()
    if not form.validate():
        return _refused(race, order, form)
    cart_url = url_for("cart.view", slug=slug)
    try:
        result = auth_provider().sign_up(form.email.data, form.password.data, full_name=form.full_name.data.strip(),
                                         redirect_to=email_link_target(cart_url))
    except AuthError as error:
        return _refused(race, order, form, error)
    if result.session is None:  # the address must be confirmed first; the cart waits in its cookie
        return render("auth/check_email.html", email=form.email.data, next_url=cart_url, purpose="confirm")
    return _signed_in_and_pay(race, result.session)


@bp.post("/races/<slug>/cart/account/sign-in")
@auth_limit
def sign_in(slug: str):
    """Sign in from the cart and pay: one click."""
    race = race_or_404(slug)
    order = _guest_cart_or_404(race)
    if order is None:
        return redirect_to(url_for("cart.view", slug=slug))
    form = SignInForm()
    if not form.validate():
        return _refused(race, order, form)
    try:
        tokens = auth_provider().sign_in(form.email.data, form.password.data)
    except AuthError as error:
        return _refused(race, order, form, error)
    return _signed_in_and_pay(race, tokens)
