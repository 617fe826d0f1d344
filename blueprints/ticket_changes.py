"""Transfer a ticket or change its distance: the buyer or the runner signed in, or the runner by an emailed link.

The ticket code alone (printed, shown at check-in) never moves a ticket: without an account that
may act, the ticket's page only offers to email the runner a one-hour link.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, request, url_for
from flask_babel import gettext as _

from blueprints.auth import login_required
from blueprints.errors import abort_for_user
from blueprints.rendering import redirect_to, render
from blueprints.tickets import abort_for_missing_ticket
from extensions import db, limiter
from models import ChangeKind, Order, Race, Refund, Registration, TicketType
from services import clock
from services.checkout import cancel_checkout
from services.payments import PaymentUnavailable, gateway_for
from services.permissions import may_change_ticket
from services.reconcile import catch_up_with_provider
from services.registration_changes import links
from services.registration_changes.panel import change_panel
from services.registration_changes.rules import ChangeRefused
from services.registration_changes.start import (
    RUNNER_LINK,
    Actor,
    NewRunner,
    NewRunnerRefused,
    cancel_pending,
    start_distance_change,
    start_transfer,
)
from services.typed_input import is_whole_number

bp = Blueprint("ticket_changes", __name__)


@bp.errorhandler(ChangeRefused)
def _refused(refused: ChangeRefused):
    return render("ticket_changes/problem.html", message=refused.message, status=refused.status)


def _ticket(code: str) -> Registration:
    registration = db.session.scalar(db.select(Registration).where(Registration.ticket_code == code)) \
        if 8 <= len(code) <= 40 else None
    if registration is None:
        abort_for_missing_ticket(code)
    return registration


def _may_act(registration: Registration) -> bool:
    user = g.get("user")
    return may_change_ticket(db.session, registration, user.id if user is not None else None)


def _actions(**values) -> dict:
    if "token" in values:
        names = ("by_link_transfer", "by_link_distance", "by_link_cancel")
    else:
        names = ("transfer", "distance", "cancel")
    return dict(zip(("transfer", "distance", "cancel"),
                    (url_for(f"ticket_changes.{name}", **values) for name in names), strict=True))


def _page(registration: Registration, actions: dict, *, status: int = 200, errors: dict | None = None,
          message: str | None = None, values: dict | None = None):
    now = clock.now()
    return render("ticket_changes/change.html", block="change_forms", status=status,
                  panel=change_panel(db.session, registration, now, by_organizer=False), actions=actions,
                  errors=errors or {}, message=message, values=values or {})


# --- from the ticket page --------------------------------------------------------------------

@bp.get("/tickets/<code>/change")
def change_page(code: str):
    """Transfer or change distance: the forms for the buyer or runner signed in, else a link to the runner."""
    registration = _ticket(code)
    if _may_act(registration):
        return _page(registration, _actions(code=code))
    race = db.session.get(Race, registration.race_id)
    return render("ticket_changes/ask_link.html", registration=registration, race=race, code=code, sent=False)


@bp.post("/tickets/<code>/change/link")
@limiter.limit("5 per hour", methods=["POST"])
def send_link(code: str):
    """Email the runner a one-hour link to change their ticket (the code alone is not enough)."""
    registration = _ticket(code)
    links.send_change_link(db.session, registration, clock.now())
    race = db.session.get(Race, registration.race_id)
    return render("ticket_changes/ask_link.html", registration=registration, race=race, code=code, sent=True)


def _signed_in_ticket(code: str) -> Registration:
    registration = _ticket(code)
    if not _may_act(registration):
        abort_for_user(403, _("Only the ticket's buyer or its runner can change it. Ask for a link from the ticket "
                              "page."))
    return registration


def _signed_in_actor() -> Actor:
    return Actor(g.user.id, g.user.email)


@bp.post("/tickets/<code>/change/transfer")
@login_required
def transfer(code: str):
    """Give the ticket to another runner (signed in)."""
    return _transfer(_signed_in_ticket(code), _signed_in_actor(), _actions(code=code))


@bp.post("/tickets/<code>/change/distance")
@login_required
def distance(code: str):
    """Move the ticket to another distance (signed in)."""
    return _distance(_signed_in_ticket(code), _signed_in_actor(), _actions(code=code))


@bp.post("/tickets/<code>/change/cancel")
@login_required
def cancel(code: str):
    """Give up a change still waiting for its payment (signed in)."""
    registration = _signed_in_ticket(code)
    cancel_pending(db.session, gateway_for(current_app), registration)
    return redirect_to(url_for("ticket_changes.change_page", code=code))


# --- by the runner's emailed link ------------------------------------------------------------

def _link_actor(registration: Registration) -> Actor:
    return Actor(None, registration.email, RUNNER_LINK)


@bp.get("/ticket-changes/<token>")
def by_link(token: str):
    """The runner's own page for their ticket's changes, by the link emailed to them."""
    return _page(links.open_change_link(db.session, token, clock.now()), _actions(token=token))


@bp.post("/ticket-changes/<token>/transfer")
def by_link_transfer(token: str):
    registration = links.open_change_link(db.session, token, clock.now())
    return _transfer(registration, _link_actor(registration), _actions(token=token))


@bp.post("/ticket-changes/<token>/distance")
def by_link_distance(token: str):
    registration = links.open_change_link(db.session, token, clock.now())
    return _distance(registration, _link_actor(registration), _actions(token=token))


@bp.post("/ticket-changes/<token>/cancel")
def by_link_cancel(token: str):
    registration = links.open_change_link(db.session, token, clock.now())
    cancel_pending(db.session, gateway_for(current_app), registration)
    return redirect_to(url_for("ticket_changes.by_link", token=token))


# --- shared by both ways in ------------------------------------------------------------------

def _urls(change) -> tuple[str, str]:
    """The payment page's way back: paid to the change's status, cancelled to the address that closes it."""
    site, token = current_app.config["SITE_URL"], links.status_token(change, clock.now())
    return (site + url_for("ticket_changes.status", token=token),
            site + url_for("ticket_changes.cancelled", token=token))


def _started(started):
    if started.payment_url:
        return redirect_to(started.payment_url)
    return redirect_to(url_for("ticket_changes.status", token=links.status_token(started.change, clock.now())))


def _transfer(registration: Registration, actor: Actor, actions: dict):
    form = request.form
    runner = NewRunner(form.get("first_name", ""), form.get("last_name", ""), form.get("email", ""))
    try:
        started = start_transfer(db.session, gateway_for(current_app), registration, runner, actor, clock.now(), _urls)
    except NewRunnerRefused as refused:
        return _page(registration, actions, status=422, errors=refused.problems, values=form)
    except ChangeRefused as refused:
        return _page(registration, actions, status=refused.status, message=refused.message, values=form)
    except PaymentUnavailable:
        return _payment_unavailable(registration, actions)
    return _started(started)


def _payment_unavailable(registration: Registration, actions: dict):
    return _page(registration, actions, status=503, message=_("We couldn't reach the payment provider, so nothing "
                                                              "changed. Please try again in a moment."))


def _distance(registration: Registration, actor: Actor, actions: dict):
    raw = request.form.get("ticket_type_id", "")
    if not is_whole_number(raw):
        return _page(registration, actions, status=422, message=_("Choose the distance to change to."))
    try:
        started = start_distance_change(db.session, gateway_for(current_app), registration, int(raw), actor,
                                        clock.now(), _urls)
    except LookupError:
        abort_for_user(404, _("That distance isn't part of this race."))
    except ChangeRefused as refused:
        return _page(registration, actions, status=refused.status, message=refused.message)
    except PaymentUnavailable:
        return _payment_unavailable(registration, actions)
    return _started(started)


@bp.get("/ticket-changes/done/<token>")
def status(token: str):
    """After the payment page (or at once for a free change): what became of the change."""
    change = links.open_status(db.session, token, clock.now())
    if change.order_id is not None:
        order = db.session.get(Order, change.order_id)
        catch_up_with_provider(db.session, gateway_for(current_app), order, current_app.config["APP_ENV"], clock.now())
    return _status_page(token)


@bp.get("/ticket-changes/cancelled/<token>")
def cancelled(token: str):
    """Back from the payment page without paying: the change and its payment page close, and it may be tried again."""
    change = links.open_status(db.session, token, clock.now())
    if change.order_id is not None:
        cancel_checkout(db.session, gateway_for(current_app), db.session.get(Order, change.order_id))
    return _status_page(token)


def _status_page(token: str):
    db.session.expire_all()
    change = links.open_status(db.session, token, clock.now())
    race = db.session.get(Race, change.race_id)
    new_type = db.session.get(TicketType, change.new_ticket_type_id) if change.kind == ChangeKind.DISTANCE else None
    registration = db.session.get(Registration, change.registration_id)
    refund = db.session.get(Refund, change.refund_id) if change.refund_id else None
    # The ticket (and its code) only for whoever may act on it now: the address may outlive a later transfer.
    return render("ticket_changes/status.html", block="change_status", change=change, race=race, new_type=new_type,
                  registration=registration, refund=refund, may_see_ticket=_may_act(registration))
