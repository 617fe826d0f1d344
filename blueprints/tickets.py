"""A runner's tickets: the list, and one ticket with the QR code that checks them in."""
from __future__ import annotations

import re

from flask import Blueprint, current_app, g
from flask_babel import gettext as _
from sqlalchemy import select

from blueprints.auth import login_required
from blueprints.errors import abort_for_user
from blueprints.manage.checkin import checkin_notes
from blueprints.rendering import render
from extensions import db
from models import Order, OrderStatus, Registration
from services.notifications import qr_svg, ticket_url
from services.permissions import can_manage
from services.registration_changes.rules import was_transferred
from services.runners import waiver_to_sign
from services.tickets import ticket_rows, tickets_of

bp = Blueprint("tickets", __name__, url_prefix="/tickets")
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{8,40}$")


def abort_for_missing_ticket(code: str):
    """No ticket has `code`: a 410 when it was transferred away from it, else a 404."""
    if CODE_RE.match(code) and was_transferred(db.session, code):
        abort_for_user(410, _("This ticket was transferred to another runner, so this code no longer works."))
    abort_for_user(404, _("There's no ticket with that code."))


@bp.get("/")
@login_required
def index():
    """Every ticket the signed-in person bought or runs on (one moved into their account), soonest race first."""
    rows = tickets_of(db.session, g.user.id)
    waiting = db.session.scalars(select(Order).where(
        Order.buyer_id == g.user.id, Order.status.in_([OrderStatus.PENDING, OrderStatus.NEEDS_REFUND]))).all()
    return render("tickets/index.html", rows=rows, waiting=waiting, qr_svg=qr_svg, ticket_url=ticket_url)


@bp.get("/<code>")
def show(code: str):
    """One ticket. The unguessable code in the address is what grants access, as on a paper ticket."""
    rows = ticket_rows(db.session, Registration.ticket_code == code) if CODE_RE.match(code) else []
    if not rows:
        abort_for_missing_ticket(code)
    registration, ticket_type, race, order = rows[0]
    # One of the race's organizers scanning the QR code at the start line gets a check-in button.
    organizer = g.get("user") is not None and can_manage(db.session, race.id, g.user.id)
    return render("tickets/checkin.html" if organizer else "tickets/show.html", registration=registration,
                  ticket_type=ticket_type, race=race, order=order,
                  waiver=waiver_to_sign(db.session, race.id) if organizer else None,
                  notes=checkin_notes() if organizer else {},
                  qr=qr_svg(ticket_url(code)), site_url=current_app.config["SITE_URL"])
