"""The cart: adding tickets from a race page, the cart page and discount codes (runner forms: cart_runners.py)."""
from __future__ import annotations

from flask import Blueprint, Flask, g, get_flashed_messages, request, url_for
from flask_babel import format_number
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from blueprints.auth_forms import MagicLinkForm, SignInForm, SignUpForm
from blueprints.cart_forms import RunnerForm
from blueprints.cart_owner import (
    CART_NOTICE,
    cart_owner,
    cart_owner_for_adding,
    register_cart_cookie,
    viewers_cart_contents,
)
from blueprints.errors import abort_for_user
from blueprints.lookups import owned_or_404
from blueprints.rendering import is_fragment_request, page_url, redirect_to, render
from blueprints.runner_cards import runner_cards, saved_names, typed_forms
from blueprints.ticket_form import (
    NO_SUCH_RACE,
    parse_quantities,
    race_card_or_404,
    ticket_form_context,
)
from extensions import db
from models import Order, OrderStatus, Race, Registration
from services import cart as cart_service
from services import cart_status, clock
from services import races as race_service
from services.cart import MAX_PER_TYPE, CartRefused, RaceGone
from services.cart_status import CartCount, joined_with_and
from services.discounts import CodeRefused
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
    """Put the chosen tickets in the cart (no account needed yet) and go on to the cart, to fill in the runners."""
    card = race_card_or_404(slug)
    now = clock.now()
    quantities, typed, problems = parse_quantities(request.form)
    if not problems and not any(quantities.values()):
        problems[None] = _("Choose how many tickets you want.")
    if problems:
        return render("races/race.html", block="tickets", status=422,
                      **ticket_form_context(card, now, chosen=typed, errors=problems))
    try:
        cart_service.add_tickets(db.session, cart_owner_for_adding(), card.race, quantities, now)
    except CartRefused as refused:
        return render("races/race.html", block="tickets", status=422,
                      **ticket_form_context(card, now, chosen=typed, errors=refused.problems))
    except RaceGone:  # its organizer deleted it (it had no sales) a moment ago
        abort_for_user(404, NO_SUCH_RACE)
    return redirect_to(url_for("cart.view", slug=slug))


# --- the cart page ------------------------------------------------------------------------

def race_or_404(slug: str) -> Race:
    """The race at this address, draft or not: a buyer's cart outlives the race being unpublished."""
    race = race_service.race_by_slug(db.session, slug)
    if race is None:
        abort_for_user(404, NO_SUCH_RACE)
    return race


def find_own_cart(race: Race, *, lock: bool = False) -> Order | None:
    """This person's cart for the race (signed in or not), if they have one; `lock`: see `find_cart`."""
    owner = cart_owner()
    return cart_service.find_cart(db.session, owner, race.id, lock=lock) if owner is not None else None


def _own_cart_or_404(race: Race) -> Order:
    """The cart a change is posted to, under its row lock until the change commits (`find_cart`): a checkout of it
    in another tab is waited for, and it is then no cart, rather than changed after it was priced for payment."""
    order = find_own_cart(race, lock=True)
    if order is None:
        abort_for_user(404, _("Your cart for this race is empty."))
    return order


ACCOUNT_FORMS = {"sign-in": SignInForm, "link": MagicLinkForm, "sign-up": SignUpForm}  # the pay panel's tabs


def account_mode(form) -> str:
    """Which tab of the pay panel this account form belongs to (none for someone signed in)."""
    return next((mode for mode, kind in ACCOUNT_FORMS.items() if isinstance(form, kind)), "sign-up")


def cart_page(race: Race, order: Order | None, *, status: int = 200, message: str | None = None,
              code_error: str | None = None, code_typed: str = "", forms: dict[int, RunnerForm] | None = None,
              saved: list[str] | None = None, account_form=None, account_error: str | None = None,
              loaded: cart_status.LoadedCart | None = None):
    """The cart page (or its #cart fragment). `forms` are runner forms as just posted (with their errors),
    `saved` whose details were saved. A guest's way to payment is the account panel: sign-up unless
    `?account=sign-in` (or the mode posted) or `account_form` (a form that was refused) says otherwise.
    `loaded`: the race and cart as race_with_cart read them, so they are not read again."""
    now = clock.now()
    view = cart_status.view_cart(db.session, order, now, loaded) if order is not None else None
    runners = view.runners if view is not None else []
    if saved is None and request.method == "GET":
        saved = saved_names(runners, request.args.get("saved", ""))
    if forms is None and request.method == "POST" and view is not None:  # keep what was typed in the runner cards
        forms = typed_forms([r.registration for r in runners], race, view.waiver, now, request.form)
    if account_form is None and g.get("user") is None:
        mode = request.values.get("account_mode", request.args.get("account"))
        posted = request.form if request.method == "POST" else None  # what a visitor typed stays typed
        account_form = ACCOUNT_FORMS.get(mode, SignUpForm)(formdata=posted)
    return render("cart/cart.html", block="cart", status=status, race=race, view=view, message=message,
                  code_error=code_error, code_typed=code_typed, saved=saved or [],
                  cards=runner_cards(runners, race, view.waiver if view else None, now, forms),
                  pay_url=page_url("cart_account.pay_for_cart", slug=race.slug),
                  max_per_type=MAX_PER_TYPE, notices=get_flashed_messages(category_filter=[CART_NOTICE]),
                  account_form=account_form, account_mode=account_mode(account_form),
                  account_error=account_error)


def _after_change(race: Race, order: Order):
    if not is_fragment_request():
        return redirect_to(url_for("cart.view", slug=race.slug))
    return with_badge(cart_page(race, order))


@bp.get("/races/<slug>/cart")
def view(slug: str):
    """The cart for one race: tickets, runners, discount code, totals and the way to payment."""
    loaded = cart_status.race_with_cart(db.session, slug, cart_owner())
    if loaded is None:
        abort_for_user(404, NO_SUCH_RACE)
    race, order = loaded.race, loaded.order
    if order is None and not race_service.may_see(db.session, race, g.user.id if g.user else None):
        abort_for_user(404, NO_SUCH_RACE)  # a draft, and no cart to show for it
    return cart_page(race, order, loaded=loaded)


@bp.post("/races/<slug>/cart/quantity")
def set_quantity(slug: str):
    """Change how many tickets of one type the cart holds."""
    race = race_or_404(slug)
    order = _own_cart_or_404(race)
    type_id, raw = request.form.get("ticket_type_id", ""), request.form.get("quantity", "").strip()
    if not is_whole_number(type_id) or not is_whole_number(raw, max_digits=4):
        return cart_page(race, order, status=422, message=_("Choose a number of tickets from 0 to %(max)d.", max=MAX_PER_TYPE))
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
    registration = owned_or_404(Registration, registration_id, _("That ticket isn't in your cart."),
                                order_id=order.id)
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


# --- the tickets the runner forms are for ------------------------------------------------

def _own_registration_or_404(registration_id: int) -> Registration:
    """A ticket in this person's open cart (signed in or not); anyone else's (or a paid one) is a 404. For a change
    (a POST), its cart is read under its row lock, as `_own_cart_or_404` reads it: a checkout of the cart is waited
    for, and the ticket is then in no open cart."""
    owner = cart_owner()
    query = (select(Registration).join(Order, Order.id == Registration.order_id)
             .options(joinedload(Registration.ticket_type), joinedload(Registration.order))
             .where(Registration.id == registration_id, owner.owns_clause(), Order.status == OrderStatus.CART)
             ) if owner is not None else None
    registration = None if query is None else db.session.scalar(
        query.with_for_update(of=Order) if request.method == "POST" else query)
    if registration is None:
        abort_for_user(404, _("There's no ticket like that in your cart."))
    return registration


# --- the header badge ---------------------------------------------------------------------

def cart_badge() -> CartCount:
    """Tickets in this person's carts, counted once per request and only where a page shows it."""
    return viewers_cart_contents().count()


def register(app: Flask) -> None:
    register_cart_cookie(app)
    app.register_blueprint(bp)
    app.jinja_env.globals["cart_badge"] = cart_badge
    app.jinja_env.filters["joined_with_and"] = joined_with_and  # "Ana, Bo and Cy" in the page's language
    app.jinja_env.filters.setdefault("number", format_number)  # 1,000 (English), 1000 and 10.000 (Spanish)
