"""A runner's personal link: fill in their own details and sign the waiver, see the ticket, keep it in an account."""
from __future__ import annotations

from flask import Blueprint, Flask, g, request, url_for
from flask_babel import gettext as _

from blueprints.auth import login_required
from blueprints.cart_forms import DEPENDENT_FIELDS, NOT_ON_THE_FORM, RunnerForm
from blueprints.errors import abort_for_user
from blueprints.rendering import redirect_to, render
from extensions import db, limiter
from services import clock
from services import runner_invites as invites
from services.notifications import qr_svg, ticket_url
from services.runner_invites import AgeRefused, Invitation, LinkRefused
from services.runners import RunnerRefused, waiver_to_sign

bp = Blueprint("runner_invites", __name__, url_prefix="/runner-details")


def _refused_link(response) -> bool:
    """Only links that open nothing count against the address (guessing, or an old link tried again)."""
    return response.status_code in (404, 409, 410)


# Per address, every route of the link: 30 refusals a minute; a runner filling in the form is never slowed.
_link_limit = limiter.shared_limit("30 per minute", scope="runner-links", deduct_when=_refused_link)


@bp.errorhandler(LinkRefused)
def _link_problem(refused: LinkRefused):
    """A link that opens nothing (forged, replaced, used, expired, refunded): a page that says which, nothing changed."""
    return render("runner_invites/link_problem.html", title=refused.title, message=refused.message,
                  status=refused.status)


def _form(invitation: Invitation, *, saved: bool = False) -> RunnerForm:
    registration, race = invitation.registration, invitation.race
    form = RunnerForm.for_registration(registration) if saved else RunnerForm()
    form.bind(race, invitation.ticket_type, waiver_to_sign(db.session, race.id), clock.now())
    form.runner_fills_in.data = False  # the runner is filling in: every field is asked, whatever was posted
    return form


def _page(token: str, invitation: Invitation, form: RunnerForm, *, status: int = 200, age_problem: str | None = None):
    return render("runner_invites/details.html", block="runner_form", status=status, invitation=invitation,
                  race=invitation.race, ticket_type=invitation.ticket_type, registration=invitation.registration,
                  form=form, waiver=form.waiver, token=token, age_problem=age_problem,
                  check_url=url_for("runner_invites.check", token=token))


@bp.route("/<token>", methods=["GET", "POST"])
@_link_limit
def details(token: str):
    """The runner's own form for the ticket bought for them; saved, it shows their ticket."""
    invitation = invites.open_invitation(db.session, token, clock.now())
    if request.method == "GET":
        return _page(token, invitation, _form(invitation, saved=True))
    form = _form(invitation)
    if not form.validate() and form.errors.keys() - {"date_of_birth"}:
        return _page(token, invitation, form, status=422)
    try:
        invites.submit_details(db.session, invitation, form.details(), form.now, request.remote_addr or "")
    except AgeRefused as refused:
        return _page(token, invitation, form, status=422, age_problem=refused.problems["date_of_birth"])
    except RunnerRefused:
        return _page(token, invitation, form, status=422)
    return redirect_to(url_for("runner_invites.ticket", token=invites.claim_token(invitation.registration)))


@bp.post("/<token>/check")
@_link_limit
def check(token: str):
    """Check one field as it is typed (nothing is saved); 422 with the message when it is wrong."""
    invitation = invites.open_invitation(db.session, token, clock.now())
    form = _form(invitation)
    name = request.form.get("_field", "")
    if name not in form._fields or name in NOT_ON_THE_FORM:
        abort_for_user(400, _("There's no such field on the runner form."))
    form.validate()
    dependents = DEPENDENT_FIELDS.get(name, ()) if form.waiver is not None else ()
    return render("cart/_field_check.html", block="field_check", form=form, check_field=name, dependents=dependents,
                  status=422 if form[name].errors else 200)


@bp.get("/ticket/<token>")
@_link_limit
def ticket(token: str):
    """Details received: the runner's ticket with its QR code, and a way to keep it in an account."""
    invitation = invites.open_ticket(db.session, token)
    registration = invitation.registration
    here = url_for("runner_invites.ticket", token=token)
    return render("runner_invites/ticket.html", invitation=invitation, race=invitation.race,
                  ticket_type=invitation.ticket_type, registration=registration, token=token,
                  qr=qr_svg(ticket_url(registration.ticket_code)), sign_up_url=url_for("auth.sign_up", next=here),
                  sign_in_url=url_for("auth.sign_in", next=here),
                  kept=g.get("user") is not None and registration.runner_profile_id == g.user.id)


@bp.post("/ticket/<token>/keep")
@_link_limit
@login_required
def keep(token: str):
    """Move the ticket into the signed-in runner's account: their tickets page lists it from now on."""
    invites.claim_ticket(db.session, invites.open_ticket(db.session, token), g.user)
    return redirect_to(url_for("tickets.index"))


def register(app: Flask) -> None:
    app.register_blueprint(bp)
