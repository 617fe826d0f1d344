"""An organizer transfers a registrant's ticket or changes its distance for the runner, from the registrant page."""
from __future__ import annotations

import uuid

from flask import current_app, g, request, url_for
from flask_babel import gettext as _

from blueprints.errors import abort_for_user
from blueprints.manage import bp, organizer_required
from blueprints.manage.operations import _order_or_404, _order_page
from blueprints.manage.registrants import _detail, _registrant_or_404
from blueprints.rendering import redirect_to
from extensions import db
from models import Order, Race
from services import clock
from services.payments import gateway_for
from services.refunds import RefundRefused
from services.registration_changes.rules import ChangeRefused
from services.registration_changes.start import (
    Actor,
    NewRunner,
    NewRunnerRefused,
    cancel_pending,
    resend_difference,
    start_distance_change,
    start_transfer,
)
from services.typed_input import is_whole_number


def _organizer() -> Actor:
    """The organizer acts for the runner: the fee and a dearer distance's difference are waived."""
    return Actor(g.user.id, g.user.email, by_organizer=True)


def _back(race: Race, registration_id: int):
    return redirect_to(url_for("manage.registrant", race_id=race.id, registration_id=registration_id) + "#change-forms")


def _refused(race: Race, registration_id: int, status: int, **change):
    return _detail(race, _registrant_or_404(race, registration_id), status=status, **change)


def _no_urls(change):  # an organizer's change is never paid for, so it opens no payment page
    raise AssertionError("an organizer's change has nothing to pay")


@bp.post("/races/<int:race_id>/registrants/<int:registration_id>/transfer")
@organizer_required
def transfer_registrant(race: Race, registration_id: int):
    """Give the ticket to another runner, for the runner (no fee)."""
    registration = _registrant_or_404(race, registration_id).registration
    form = request.form
    runner = NewRunner(form.get("first_name", ""), form.get("last_name", ""), form.get("email", ""))
    try:
        start_transfer(db.session, gateway_for(current_app), registration, runner, _organizer(), clock.now(), _no_urls)
    except NewRunnerRefused as refused:
        return _refused(race, registration_id, 422, change_errors=refused.problems, change_values=form)
    except ChangeRefused as refused:
        return _refused(race, registration_id, refused.status, change_message=refused.message, change_values=form)
    return _back(race, registration_id)


@bp.post("/races/<int:race_id>/registrants/<int:registration_id>/distance")
@organizer_required
def change_registrant_distance(race: Race, registration_id: int):
    """Move the ticket to another distance, for the runner (a dearer one's difference waived)."""
    registration = _registrant_or_404(race, registration_id).registration
    raw = request.form.get("ticket_type_id", "")
    if not is_whole_number(raw):
        return _refused(race, registration_id, 422, change_message=_("Choose the distance to change to."))
    try:
        start_distance_change(db.session, gateway_for(current_app), registration, int(raw), _organizer(), clock.now(),
                              _no_urls)
    except LookupError:
        abort_for_user(404, _("That distance isn't part of this race."))
    except ChangeRefused as refused:
        return _refused(race, registration_id, refused.status, change_message=refused.message)
    return _back(race, registration_id)


@bp.post("/races/<int:race_id>/registrants/<int:registration_id>/cancel-change")
@organizer_required
def cancel_registrant_change(race: Race, registration_id: int):
    """Cancel a change the runner or buyer started and hasn't paid for."""
    registration = _registrant_or_404(race, registration_id).registration
    cancel_pending(db.session, gateway_for(current_app), registration)
    return _back(race, registration_id)


@bp.post("/races/<int:race_id>/orders/<uuid:order_id>/refunds/<int:refund_id>/again")
@organizer_required
def resend_difference_refund(race: Race, order_id: uuid.UUID, refund_id: int):
    """Send a cheaper distance's difference again, after the payment provider refused it."""
    order = _order_or_404(race, order_id)
    try:
        resend_difference(db.session, gateway_for(current_app), order, refund_id, g.user.id, clock.now())
    except LookupError:
        abort_for_user(404, _("That isn't a failed refund of this order."))
    except RefundRefused as refused:  # recorded as failed again: the page shows why
        return _order_page(race, db.session.get(Order, order.id, populate_existing=True), status=refused.status)
    return redirect_to(url_for("manage.order", race_id=race.id, order_id=order.id) + "#refunds")
