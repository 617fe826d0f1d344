"""Paying: start checkout, the order page that waits for the payment, cancel, and the test gateway."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache

from flask import Blueprint, abort, current_app, g, request, url_for
from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from blueprints.auth import login_required
from blueprints.errors import abort_for_user
from blueprints.rendering import redirect_to, render
from extensions import db
from models import Order, OrderKind, OrderStatus, Race
from services import clock
from services.checkout import CheckoutRefused, SoldOut, cancel_checkout, start_checkout
from services.fulfillment import pay_on_test_gateway
from services.payments import PaymentUnavailable, gateway_for, opens_gateway_page
from services.pricing import quote_order
from services.reconcile import catch_up_with_provider
from services.refunds import order_registrations
from services.registration_changes.apply import change_for_order, change_quote
from services.registration_changes.links import status_token

bp = Blueprint("checkout", __name__)


def _own_order(order_id: uuid.UUID) -> Order:
    """The signed-in buyer's order; anyone else's is a 404 (order ids are not secrets to guess at). Its race comes
    in the same statement, for `db.session.get(Race, …)` to find: every page here names the race, and checkout
    reads it (one statement fewer for each of a registration opening's thousand buyers, issue 17)."""
    order = db.session.scalar(_order_and_race(), {"order_id": order_id})
    if order is None or order.buyer_id != g.user.id:
        abort_for_user(404, _("We couldn't find that order."))
    return order


@cache
def _order_and_race():
    """`_own_order`'s statement, built once (`order_id` bound at each run). The race is joined onto `order.race`,
    which holds it in the session: a row read beside the order and held by nothing would leave the session's
    (weak) identity map before the next `get`."""
    return select(Order).options(joinedload(Order.race, innerjoin=True)).where(Order.id == bindparam("order_id"))


def _cart_url(order: Order | OrderPlace) -> str:
    if order.kind == OrderKind.CHANGE and (change := change_for_order(db.session, order.id)) is not None:
        return url_for("ticket_changes.status", token=status_token(change, clock.now()))  # it pays a ticket change
    return url_for("cart.view", slug=db.session.get(Race, order.race_id).slug)


@dataclass(frozen=True)
class OrderPlace:
    """What a refused checkout's answer needs of its order, read before the refusal's rollback expires it."""

    id: uuid.UUID
    race_id: int
    kind: OrderKind


@bp.post("/orders/<uuid:order_id>/checkout")
@login_required
def start(order_id: uuid.UUID):
    """Reserve the spots and go to the payment page (Stripe, or the test gateway)."""
    return pay(_own_order(order_id))


def pay(order: Order):
    """Reserve the signed-in buyer's order and answer with the way to the payment page (or why not);
    the cart's "Sign in and pay" goes the same way."""
    site = current_app.config["SITE_URL"]
    place = OrderPlace(order.id, order.race_id, order.kind)
    try:
        result = start_checkout(
            db.session, order, gateway_for(current_app), clock.now(), customer_email=g.user.email,
            success_url=site + url_for("checkout.order_page", order_id=order.id) + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=site + url_for("checkout.cancel", order_id=order.id))
    except CheckoutRefused as refused:
        return _checkout_problem(place, refused.message, refused.problems, status=409 if refused.problems else 422,
                                 sold_out=isinstance(refused, SoldOut))
    except PaymentUnavailable:
        return _checkout_problem(place, _("We couldn't reach the payment provider, so nothing was charged and your "
                                          "spots were released. Please try again in a moment."), [], status=503)
    return redirect_to(result.redirect_url)


def _checkout_problem(place: OrderPlace, message: str, problems: list[str], status: int, sold_out: bool = False):
    return render("checkout/problem.html", race=db.session.get(Race, place.race_id), message=message,
                  problems=problems, cart_url=_cart_url(place), status=status, sold_out=sold_out)


def _order_view(order: Order):
    return db.session.get(Race, order.race_id), order_registrations(db.session, order.id)


@bp.get("/orders/<uuid:order_id>")
@login_required
def order_page(order_id: uuid.UUID):
    """Where the runner lands after paying: it waits for the payment, then shows the tickets."""
    order = _own_order(order_id)
    if order.kind == OrderKind.CHANGE:  # its own page says what became of the change
        return redirect_to(_cart_url(order))
    # The webhook may be late or lost: a pending order asks the provider directly.
    catch_up_with_provider(db.session, gateway_for(current_app), order, current_app.config["APP_ENV"], clock.now())
    race, rows = _order_view(order)
    return render("checkout/order.html", block="order_status", order=order, race=race, rows=rows,
                  waiting=order.status == OrderStatus.PENDING)


@bp.get("/orders/<uuid:order_id>/cancel")
@login_required
def cancel(order_id: uuid.UUID):
    """Back from the payment page without paying: release the spots and return to the cart."""
    order = _own_order(order_id)
    cancel_checkout(db.session, gateway_for(current_app), order)
    return redirect_to(_cart_url(order))


# --- the embedded test gateway -------------------------------------------------------------

def _test_gateway_order(order_id: uuid.UUID) -> Order:
    """The order whose test payment page this is. As with Stripe's page, its address (`page`, signed for
    this order) is what opens it, signed in or not: a runner paying a ticket change by an emailed link may
    have no account."""
    if not gateway_for(current_app).is_test:
        abort(404)
    order = db.session.get(Order, order_id)
    if order is None or not opens_gateway_page(order_id, request.args.get("page", "")):
        abort_for_user(404, _("We couldn't find that payment page."))
    return order


@bp.get("/test-gateway/<uuid:order_id>")
def test_gateway(order_id: uuid.UUID):
    """A stand-in for Stripe's payment page: clearly marked, and no card is charged."""
    order = _test_gateway_order(order_id)
    race, rows = _order_view(order)
    expired = order.status != OrderStatus.PENDING or not order.reserved_until or order.reserved_until <= clock.now()
    return render("checkout/test_gateway.html", order=order, race=race, rows=rows, expired=expired,
                  page_token=request.args["page"],
                  quote=change_quote(db.session, change) if (change := change_for_order(db.session, order.id))
                  else quote_order(db.session, order))


@bp.post("/test-gateway/<uuid:order_id>")
def test_gateway_pay(order_id: uuid.UUID):
    """Pay (or cancel) on the test gateway: the same fulfillment the Stripe webhook uses; then back to
    where Stripe would send the payer (the order page, or a ticket change's own page)."""
    order = _test_gateway_order(order_id)
    change = order.kind == OrderKind.CHANGE
    if request.form.get("action") == "cancel":
        if not change:
            return redirect_to(url_for("checkout.cancel", order_id=order.id))
        change_row = change_for_order(db.session, order.id)
        return redirect_to(url_for("ticket_changes.cancelled", token=status_token(change_row, clock.now())))
    pay_on_test_gateway(db.session, order, clock.now())
    return redirect_to(_cart_url(order) if change else url_for("checkout.order_page", order_id=order.id))
