"""The public waitlist: joining a sold-out ticket type from the race page, and the personal links to
accept or decline an offer and to leave the list. No account needed for any of it."""
from __future__ import annotations

from flask import Blueprint, Flask, request, url_for
from flask_babel import gettext as _

from blueprints.cart_owner import cart_owner_for_adding
from blueprints.rendering import redirect_to, render
from blueprints.ticket_form import race_card_or_404
from extensions import db, limiter
from models import Race, TicketType
from services import clock
from services import waitlist as waitlist_service
from services.cart import CartRefused
from services.typed_input import is_whole_number
from services.waitlist import LinkRefused, WaitlistRefused

bp = Blueprint("waitlist", __name__)

FIELD_LIMIT = 1000  # longer than any field may be: the rest is never read


def _refused_link(response) -> bool:
    return response.status_code in (404, 410)


_link_limit = limiter.shared_limit("30 per minute", scope="waitlist-links", deduct_when=_refused_link)


@bp.errorhandler(LinkRefused)
def _link_problem(refused: LinkRefused):
    """A link that opens nothing (not ours, or the offer is over): a page that says which; nothing changed."""
    return render("runner_invites/link_problem.html", title=refused.title, message=refused.message,
                  status=refused.status)


def _whole(name: str) -> int | None:
    text = request.form.get(name, "").strip()
    return int(text) if is_whole_number(text, 3) else None


@bp.post("/races/<slug>/waitlist")
@limiter.limit("10 per minute;60 per hour")
def join(slug: str):
    """Join the waitlist of a sold-out ticket type (or update your place in it)."""
    card = race_card_or_404(slug)
    values = {name: request.form.get(name, "")[:FIELD_LIMIT] for name in ("name", "email", "spots", "ticket_type")}
    type_id = _whole("ticket_type")
    try:
        joined = waitlist_service.join(db.session, card.race, type_id or 0, name=values["name"],
                                       email=values["email"], spots=_whole("spots"), now=clock.now())
    except WaitlistRefused as refused:
        return render("waitlist/join.html", block="join", status=422, card=card, race=card.race, values=values,
                      errors=refused.problems, joined=None)
    ticket_type = db.session.get(TicketType, joined.entry.ticket_type_id)
    return render("waitlist/join.html", block="join", card=card, race=card.race, values={}, errors={},
                  joined=joined, ticket_type=ticket_type)


def _offer_context(token: str, entry) -> dict:
    return {"token": token, "entry": entry, "race": db.session.get(Race, entry.race_id),
            "ticket_type": db.session.get(TicketType, entry.ticket_type_id)}


@bp.get("/waitlist/offer/<token>")
@_link_limit
def offer(token: str):
    """The offer a personal link holds: how many spots, until when, with Accept and Decline."""
    entry = waitlist_service.entry_for_offer(db.session, token, clock.now())
    return render("waitlist/offer.html", **_offer_context(token, entry), problem=None)


@bp.post("/waitlist/offer/<token>/accept")
@_link_limit
def accept(token: str):
    """Put the offered tickets in this person's cart and go there to fill in the runners and pay."""
    now = clock.now()
    entry = waitlist_service.entry_for_offer(db.session, token, now)
    context = _offer_context(token, entry)
    try:
        waitlist_service.accept(db.session, entry, cart_owner_for_adding(), now)
    except CartRefused as refused:
        entry = waitlist_service.entry_for_offer(db.session, token, now)
        return render("waitlist/offer.html", status=422, **{**context, "entry": entry}, problem=refused.message)
    return redirect_to(url_for("cart.view", slug=context["race"].slug))


@bp.post("/waitlist/offer/<token>/decline")
@_link_limit
def decline(token: str):
    """Say no: the spots go to the next person in line."""
    entry = waitlist_service.entry_for_offer(db.session, token, clock.now())
    context = _offer_context(token, entry)
    if not waitlist_service.decline(db.session, entry, clock.now()):  # accepted, or ended, a moment ago
        raise waitlist_service.offer_closed(entry)  # as its link now says
    return render("waitlist/done.html", race=context["race"], title=_("Offer declined"),
                  message=_("Thanks for letting us know: the spots have gone to the next person in line."))


@bp.route("/waitlist/leave/<token>", methods=["GET", "POST"])
@_link_limit
def leave(token: str):
    """Leave the waitlist: a button on GET (nothing changes by opening the link), done on POST."""
    entry = waitlist_service.entry_to_leave(db.session, token, clock.now())
    race, ticket_type = db.session.get(Race, entry.race_id), db.session.get(TicketType, entry.ticket_type_id)
    if request.method == "GET":
        return render("waitlist/leave.html", token=token, entry=entry, race=race, ticket_type=ticket_type,
                      in_line=entry.status in waitlist_service.IN_LINE)
    if not waitlist_service.leave(db.session, entry, clock.now()):  # left, removed or expired a moment ago
        return render("waitlist/done.html", race=race, status=409, title=_("Leave the waitlist?"),
                      message=_("You're not in line for the %(ticket_type)s any more: there's nothing to leave.",
                                ticket_type=ticket_type.name))
    return render("waitlist/done.html", race=race, title=_("You've left the waitlist"),
                  message=_("You're no longer in line for the %(ticket_type)s. We've emailed you a confirmation.",
                            ticket_type=ticket_type.name))


def register(app: Flask) -> None:
    app.register_blueprint(bp)
