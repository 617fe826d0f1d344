"""Unsubscribing from a race's messages by the link in each one: a page to confirm, and the one-click POST.

The POST is exempt from CSRF: the signed token in the URL is what authenticates it, and RFC 8058 has mail
clients POST "List-Unsubscribe=One-Click" to it with no page (and no CSRF token) in between.
"""
from __future__ import annotations

from flask import Blueprint, request

from blueprints.rendering import render
from extensions import csrf, db, limiter
from services import clock
from services.messages import unsubscribe as unsubscribing
from services.messages.unsubscribe import BadUnsubscribeLink

bp = Blueprint("messages_public", __name__, url_prefix="/unsubscribe")


@bp.errorhandler(BadUnsubscribeLink)
def _bad_link(error: BadUnsubscribeLink):
    return render("messages/unsubscribe.html", block="unsubscribe", status=404, problem=str(error), race=None,
                  done=False, already=False, email="")


@bp.route("/<token>", methods=["GET", "POST"])
@csrf.exempt
@limiter.limit("30 per minute")
def unsubscribe(token: str):
    """GET: a page with one button to stop this race's messages. POST (the button, or a mail client's one click): stop them."""
    link = unsubscribing.open_link(db.session, token)
    already = unsubscribing.is_unsubscribed(db.session, link.race.id, link.email)
    if request.method == "POST":
        unsubscribing.unsubscribe(db.session, link, clock.now())
    return render("messages/unsubscribe.html", block="unsubscribe", race=link.race, email=link.email, problem=None,
                  done=request.method == "POST", already=already)
