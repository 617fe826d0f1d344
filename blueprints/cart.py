"""The cart: adding tickets from a race page, the cart page, discount codes, and one form per runner."""
from __future__ import annotations

from flask import Blueprint, Flask, g, get_flashed_messages, request, url_for
from jinja2_fragments.flask import render_block
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from blueprints.auth_forms import SignInForm, SignUpForm
from blueprints.cart_forms import DEPENDENT_FIELDS, RunnerForm
from blueprints.cart_owner import (
    CART_NOTICE,
    cart_owner,
    cart_owner_for_adding,
    register_cart_cookie,
    viewers_cart_contents,
)
from blueprints.errors import abort_for_user
from blueprints.lookups import owned_or_404
from blueprints.rendering import is_fragment_request, redirect_to, render
from blueprints.ticket_form import (
    NO_SUCH_RACE,
    describe,
    parse_quantities,
    race_card_or_404,
    ticket_form_context,
)
from extensions import db
from models import Order, OrderStatus, Race, Registration
from services import cart as cart_service
from services import cart_status, clock
from services import races as race_service
from services.cart import MAX_PER_TYPE, CartRefused
from services.cart_status import CartCount
from services.discounts import CodeRefused
from services.runners import RunnerDetails, RunnerRefused, runner_problems, save_runner, waiver_to_sign
from services.typed_input import is_whole_number

bp = Blueprint("cart", __name__)


def with_badge(response):
    """An htmx answer that changed the cart also updates the header badge, out of band."""
    if is_fragment_request():
        g.pop("cart_contents", None)
        response.set_data(response.get_data(as_text=True) + render_block("partials/_cart_badge.html", "badge", oob=True))
    return response


@bp.post("/races/<slug>/cart")
def add(slug: str):
    """Put the chosen tickets in the cart without leaving the race page (no account needed yet)."""
    card = race_card_or_404(slug)
    now = clock.now()
    quantities, typed, problems = parse_quantities(request.form)
    if not problems and not any(quantities.values()):
        problems[None] = "Choose how many tickets you want."
    if problems:
        return render("races/race.html", block="tickets", status=422,
                      **ticket_form_context(card, now, chosen=typed, errors=problems))
    try:
        order, _ = cart_service.add_tickets(db.session, cart_owner_for_adding(), card.race, quantities, now)
    except CartRefused as refused:
        return render("races/race.html", block="tickets", status=422,
                      **ticket_form_context(card, now, chosen=typed, errors=refused.problems))
    if not is_fragment_request():
        return redirect_to(url_for("cart.view", slug=slug))
    # The menus go back to 0 (pressing Add again adds more), so each type says what the cart now holds.
    return with_badge(render("races/race.html", block="tickets",
                             **ticket_form_context(card, now, added=describe(quantities, card),
                                                   in_cart=cart_service.quantities_in_cart(db.session, order))))


# --- the cart page ------------------------------------------------------------------------

def race_or_404(slug: str) -> Race:
    """The race at this address, draft or not: a buyer's cart outlives the race being unpublished."""
    race = race_service.race_by_slug(db.session, slug)
    if race is None:
        abort_for_user(404, NO_SUCH_RACE)
    return race


def find_own_cart(race: Race) -> Order | None:
    """This person's cart for the race (signed in or not), if they have one."""
    owner = cart_owner()
    return cart_service.find_cart(db.session, owner, race.id) if owner is not None else None


def _own_cart_or_404(race: Race) -> Order:
    order = find_own_cart(race)
    if order is None:
        abort_for_user(404, "Your cart for this race is empty.")
    return order


def _saved_name(tickets: list[Registration]) -> str | None:
    """`?saved=<ticket id>` after a runner form: whose details were just saved (only among these tickets)."""
    saved = request.args.get("saved", "")
    return next((r.runner_name for r in tickets if is_whole_number(saved) and r.id == int(saved)), None)


def cart_page(race: Race, order: Order | None, *, status: int = 200, message: str | None = None,
              code_error: str | None = None, code_typed: str = "", account_form=None, account_error: str | None = None):
    """The cart page (or its #cart fragment). A guest's way to payment is the account panel: sign-up
    unless `?account=sign-in` or `account_form` (a form that was refused) says otherwise."""
    view = cart_status.view_cart(db.session, order, clock.now()) if order is not None else None
    saved = _saved_name([r.registration for r in view.runners]) if view is not None and request.method == "GET" else None
    if account_form is None and g.get("user") is None and view is not None and view.ready:
        wants_sign_in = request.args.get("account") == "sign-in"
        account_form = SignInForm(formdata=None) if wants_sign_in else SignUpForm(formdata=None)
    return render("cart/cart.html", block="cart", status=status, race=race, view=view, message=message,
                  code_error=code_error, code_typed=code_typed, saved=saved,
                  checkout_url=url_for("checkout.start", order_id=order.id) if order is not None else "",
                  max_per_type=MAX_PER_TYPE, notices=get_flashed_messages(category_filter=[CART_NOTICE]),
                  account_form=account_form, account_mode="sign-in" if isinstance(account_form, SignInForm) else "sign-up",
                  account_error=account_error)


def _after_change(race: Race, order: Order):
    if not is_fragment_request():
        return redirect_to(url_for("cart.view", slug=race.slug))
    return with_badge(cart_page(race, order))


@bp.get("/races/<slug>/cart")
def view(slug: str):
    """The cart for one race: tickets, runners, discount code, totals and the way to payment."""
    race = race_or_404(slug)
    order = find_own_cart(race)
    if order is None and not race_service.may_see(db.session, race, g.user.id if g.user else None):
        abort_for_user(404, NO_SUCH_RACE)  # a draft, and no cart to show for it
    return cart_page(race, order)


@bp.post("/races/<slug>/cart/quantity")
def set_quantity(slug: str):
    """Change how many tickets of one type the cart holds."""
    race = race_or_404(slug)
    order = _own_cart_or_404(race)
    type_id, raw = request.form.get("ticket_type_id", ""), request.form.get("quantity", "").strip()
    if not is_whole_number(type_id) or not is_whole_number(raw, max_digits=4):
        return cart_page(race, order, status=422, message=f"Choose a number of tickets from 0 to {MAX_PER_TYPE}.")
    try:
        cart_service.set_quantity(db.session, order, race, int(type_id), int(raw), clock.now())
    except CartRefused as refused:
        return cart_page(race, order, status=422, message=refused.message)
    return _after_change(race, order)


@bp.post("/races/<slug>/cart/tickets/<int:registration_id>/remove")
def remove(slug: str, registration_id: int):
    """Take one ticket, and the runner on it, out of the cart."""
    race = race_or_404(slug)
    order = _own_cart_or_404(race)
    registration = owned_or_404(Registration, registration_id, "That ticket isn't in your cart.", order_id=order.id)
    cart_service.remove_registration(db.session, order, registration, clock.now())
    return _after_change(race, order)


@bp.post("/races/<slug>/cart/code")
def apply_code(slug: str):
    """Use a discount code; the reason beside the field when it can't be used."""
    race = race_or_404(slug)
    order = _own_cart_or_404(race)
    typed = request.form.get("code", "")
    try:
        cart_service.apply_code(db.session, order, race, typed, clock.now())
    except CodeRefused as refused:
        return cart_page(race, order, status=422, code_error=refused.message, code_typed=typed[:100])
    return _after_change(race, order)


@bp.post("/races/<slug>/cart/code/remove")
def remove_code(slug: str):
    """Stop using the discount code."""
    race = race_or_404(slug)
    order = _own_cart_or_404(race)
    cart_service.remove_code(db.session, order, clock.now())
    return _after_change(race, order)


@bp.get("/cart")
def index():
    """Every race the buyer (or visitor) has tickets waiting in a cart for."""
    owner = cart_owner()
    return render("cart/index.html", carts=cart_status.open_carts(db.session, owner, clock.now()) if owner else [])


# --- one form per runner ------------------------------------------------------------------

def _own_registration_or_404(registration_id: int) -> Registration:
    """A ticket in this person's open cart (signed in or not); anyone else's (or a paid one) is a 404."""
    owner = cart_owner()
    registration = None if owner is None else db.session.scalar(
        select(Registration).join(Order, Order.id == Registration.order_id)
        .options(joinedload(Registration.ticket_type), joinedload(Registration.order))
        .where(Registration.id == registration_id, owner.owns_clause(), Order.status == OrderStatus.CART))
    if registration is None:
        abort_for_user(404, "There's no ticket like that in your cart.")
    return registration


def _runner_page(registration: Registration, form: RunnerForm, *, status: int = 200):
    race = form.race
    tickets = cart_service.cart_registrations(db.session, registration.order)
    runners = cart_status.runner_statuses(tickets, race, form.waiver, form.now)
    number = next(r.number for r in runners if r.registration.id == registration.id)
    return render("cart/runner.html", block="runner_form", status=status, race=race, registration=registration,
                  ticket_type=registration.ticket_type, form=form, waiver=form.waiver, number=number,
                  runners=runners, saved=_saved_name(tickets), name_out_of_band=is_fragment_request(),
                  check_url=url_for("cart.check_runner", registration_id=registration.id))


@bp.get("/cart/runners/<int:registration_id>")
def runner(registration_id: int):
    """The runner form for one ticket: details, emergency contact, and the waiver to sign."""
    registration = _own_registration_or_404(registration_id)
    race = db.session.get(Race, registration.race_id)
    form = RunnerForm.for_registration(registration).bind(race, registration.ticket_type,
                                                          waiver_to_sign(db.session, race.id), clock.now())
    return _runner_page(registration, form)


@bp.post("/cart/runners/<int:registration_id>")
def save(registration_id: int):
    """Save the runner and their signature, then on to the next runner (or the cart)."""
    registration = _own_registration_or_404(registration_id)
    race = db.session.get(Race, registration.race_id)
    form = RunnerForm().bind(race, registration.ticket_type, waiver_to_sign(db.session, race.id), clock.now())
    if request.form.get("fill") == "me":  # "This is me": fill in, save nothing yet (a guest has no details to fill)
        if g.user is not None:
            form.fill_in_buyer(g.user)
        return _runner_page(registration, form)
    if not form.validate():
        return _runner_page(registration, form, status=422)
    try:
        save_runner(db.session, registration, form.details(), race=race, ticket_type=registration.ticket_type,
                    waiver=form.waiver, now=form.now, ip=request.remote_addr or "")
    except RunnerRefused:  # the form applies the same rules; this is the last line of defence
        return _runner_page(registration, form, status=422)
    return redirect_to(_next_stop(registration, race, form))


def _next_stop(saved: Registration, race: Race, form: RunnerForm) -> str:
    """The next ticket still missing its runner, or the cart when everyone is in."""
    for other in cart_service.cart_registrations(db.session, saved.order):
        if other.id != saved.id and runner_problems(RunnerDetails.of(other), race, other.ticket_type,
                                                    form.waiver, form.now):
            return url_for("cart.runner", registration_id=other.id, saved=saved.id)
    return url_for("cart.view", slug=race.slug, saved=saved.id)


@bp.post("/cart/runners/<int:registration_id>/check")
def check_runner(registration_id: int):
    """Check one field as it is typed (nothing is saved); 422 with the message when it is wrong."""
    registration = _own_registration_or_404(registration_id)
    name = request.form.get("_field", "")
    race = db.session.get(Race, registration.race_id)
    form = RunnerForm().bind(race, registration.ticket_type, waiver_to_sign(db.session, race.id), clock.now())
    if name not in form._fields or name in ("csrf_token", "waiver_version"):
        abort_for_user(400, "There's no such field on the runner form.")
    form.validate()
    dependents = DEPENDENT_FIELDS.get(name, ()) if form.waiver is not None else ()  # all of them are on the waiver
    return render("cart/runner.html", block="field_check", form=form, check_field=name, dependents=dependents,
                  name_out_of_band=name in ("first_name", "last_name"), status=422 if form[name].errors else 200)


# --- the header badge ---------------------------------------------------------------------

def cart_badge() -> CartCount:
    """Tickets in this person's carts, counted once per request and only where a page shows it."""
    return viewers_cart_contents().count()


def register(app: Flask) -> None:
    register_cart_cookie(app)
    app.register_blueprint(bp)
    app.jinja_env.globals["cart_badge"] = cart_badge
