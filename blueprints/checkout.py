"""Paying: start checkout, the order page that waits for the payment, cancel, and the test gateway."""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, current_app, g, request, url_for
from sqlalchemy import select

from blueprints.auth import login_required
from blueprints.errors import abort_for_user
from blueprints.rendering import redirect_to, render
from extensions import db
from models import Order, OrderStatus, Race, Registration, TicketType
from services import clock
from services.checkout import CheckoutRefused, release, start_checkout
from services.fulfillment import Payment, fulfill
from services.payments import PaymentUnavailable, gateway_for
from services.pricing import quote_order

bp = Blueprint("checkout", __name__)


def _own_order(order_id: uuid.UUID) -> Order:
    """The signed-in buyer's order; anyone else's is a 404 (order ids are not secrets to guess at)."""
    order = db.session.get(Order, order_id)
    if order is None or order.buyer_id != g.user.id:
        abort_for_user(404, "We couldn't find that order.")
    return order


def _cart_url(order: Order) -> str:
    return url_for("cart.view", slug=db.session.get(Race, order.race_id).slug)


@bp.post("/orders/<uuid:order_id>/checkout")
@login_required
def start(order_id: uuid.UUID):
    """Reserve the spots and go to the payment page (Stripe, or the test gateway)."""
    order = _own_order(order_id)
    site = current_app.config["SITE_URL"]
    try:
        result = start_checkout(
            db.session, order, gateway_for(current_app), clock.now(), customer_email=g.user.email,
            success_url=site + url_for("checkout.order_page", order_id=order.id) + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=site + url_for("checkout.cancel", order_id=order.id))
    except CheckoutRefused as refused:
        db.session.rollback()
        return _checkout_problem(order, refused.message, refused.problems, status=409 if refused.problems else 422)
    except PaymentUnavailable:
        return _checkout_problem(order, "We couldn't reach the payment provider, so nothing was charged and your "
                                        "spots were released. Please try again in a moment.", [], status=503)
    return redirect_to(result.redirect_url)


def _checkout_problem(order: Order, message: str, problems: list[str], status: int):
    race = db.session.get(Race, order.race_id)
    return render("checkout/problem.html", order=order, race=race, message=message, problems=problems,
                  cart_url=_cart_url(order), status=status)


def _order_view(order: Order):
    race = db.session.get(Race, order.race_id)
    rows = db.session.execute(
        select(Registration, TicketType.name).join(TicketType, TicketType.id == Registration.ticket_type_id)
        .where(Registration.order_id == order.id).order_by(Registration.id)).all()
    return race, rows


def _catch_up_with_provider(order: Order) -> None:
    """The webhook may be late or lost: ask the provider directly about a pending order's session."""
    if order.status != OrderStatus.PENDING or not order.stripe_session_id:
        return
    gateway = gateway_for(current_app)
    try:
        state = gateway.session_state(order.stripe_session_id)
    except PaymentUnavailable:
        return  # the page keeps polling; the webhook or the next poll will tell
    if state is not None and state.payment_status == "paid" and state.order_id == str(order.id):
        fulfill(db.session, order.id, Payment(state.amount_total, state.currency, state.payment_intent,
                                              state.amount_tax), clock.now())
        db.session.commit()


@bp.get("/orders/<uuid:order_id>")
@login_required
def order_page(order_id: uuid.UUID):
    """Where the runner lands after paying: it waits for the payment, then shows the tickets."""
    order = _own_order(order_id)
    _catch_up_with_provider(order)
    race, rows = _order_view(order)
    return render("checkout/order.html", block="order_status", order=order, race=race, rows=rows,
                  waiting=order.status == OrderStatus.PENDING)


@bp.get("/orders/<uuid:order_id>/cancel")
@login_required
def cancel(order_id: uuid.UUID):
    """Back from the payment page without paying: release the spots and return to the cart."""
    order = _own_order(order_id)
    if order.status == OrderStatus.PENDING:
        session_id = order.stripe_session_id
        release(db.session, order, reason=OrderStatus.CANCELED)
        db.session.commit()
        if session_id:
            gateway_for(current_app).expire(session_id)
    return redirect_to(_cart_url(order))


# --- the embedded test gateway -------------------------------------------------------------

def _test_gateway_order(order_id: uuid.UUID) -> Order:
    if not gateway_for(current_app).is_test:
        abort(404)
    return _own_order(order_id)


@bp.get("/test-gateway/<uuid:order_id>")
@login_required
def test_gateway(order_id: uuid.UUID):
    """A stand-in for Stripe's payment page: clearly marked, and no card is charged."""
    order = _test_gateway_order(order_id)
    race, rows = _order_view(order)
    expired = order.status != OrderStatus.PENDING or not order.reserved_until or order.reserved_until <= clock.now()
    return render("checkout/test_gateway.html", order=order, race=race, rows=rows, expired=expired,
                  quote=quote_order(db.session, order))


@bp.post("/test-gateway/<uuid:order_id>")
@login_required
def test_gateway_pay(order_id: uuid.UUID):
    """Pay (or cancel) on the test gateway: the same fulfillment the Stripe webhook uses."""
    order = _test_gateway_order(order_id)
    if request.form.get("action") == "cancel":
        return redirect_to(url_for("checkout.cancel", order_id=order.id))
    if order.status == OrderStatus.PENDING:
        fulfill(db.session, order.id, Payment(order.total, order.currency, f"test_pi_{uuid.uuid4().hex[:16]}"),
                clock.now())
        db.session.commit()
    return redirect_to(url_for("checkout.order_page", order_id=order.id))
