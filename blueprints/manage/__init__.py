"""The organizer's pages, under /manage: the blueprint, the one permission check every race page passes,
and the template helpers they share.

The pages live in modules by job: `editor` (the race list, creating a race, the editor, images,
publishing), `ticket_types`, `registrants`, `checkin`, `waitlist`, `messages` (to runners) and `operations`
(dashboard, failed emails, codes, orders and refunds, the team, with the dashboard's chart geometry in
`charts`), `changes` (a registrant's transfer or distance change, made for the runner); their forms are
in `forms` (the discount code's in `code_form`, the message's in `message_form`).
"""
from __future__ import annotations

import functools

from flask import Blueprint, Flask, g
from flask_babel import gettext as _

from blueprints.auth import login_required
from blueprints.errors import abort_for_user
from blueprints.manage.registrant_rows import RegistrantRows
from extensions import db
from services.permissions import race_if_managed

bp = Blueprint("manage", __name__, url_prefix="/manage")


def organizer_required(view):
    """Load the race named by `race_id` for one of its organizers; everyone else is turned away.

    Every route under /manage/races/<race_id> goes through this one check.
    """

    @functools.wraps(view)
    @login_required
    def wrapped(race_id: int, **kwargs):
        race, allowed = race_if_managed(db.session, race_id, g.user.id)  # one statement
        if race is None:
            abort_for_user(404, _("There's no race with that number."))
        if not allowed:
            abort_for_user(403, _("Only this race's organizers can manage it."))
        return view(race, **kwargs)

    return wrapped


def errors_with_prefix(errors: dict | None, prefix: str) -> dict:
    """The errors of one ticket type row: {"tt5-price": "…"} → {"price": "…"} for prefix "tt5-"."""
    return {key[len(prefix):]: message for key, message in (errors or {}).items() if key.startswith(prefix)}


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["errors_with_prefix"] = errors_with_prefix
    app.jinja_env.globals["registrant_rows"] = RegistrantRows  # the registrant list's rows (registrants.html)
    app.jinja_env.globals["has_endpoint"] = lambda endpoint: endpoint in app.view_functions


# The route modules add their views to `bp`, so they are imported once it and organizer_required exist.
from blueprints.manage import changes, checkin, editor, messages, operations, price_steps, registrants, ticket_types, waitlist  # noqa: E402, F401, I001
