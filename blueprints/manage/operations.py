"""Running a race: its dashboard, emails that failed to send, discount codes, orders and refunds, and the team.

Every race page here goes through `organizer_required`; an invitation link goes through
`login_required` and the invitation's own checks.
"""
from __future__ import annotations

import uuid

from flask import current_app, g, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from blueprints.auth import login_required
from blueprints.errors import abort_for_user
from blueprints.lookups import owned_or_404
from blueprints.manage import bp, organizer_required
from blueprints.manage.charts import sales_chart
from blueprints.manage.code_form import DiscountCodeForm
from blueprints.manage.forms import InviteForm, first_errors, show_problems
from blueprints.rendering import is_fragment_request, redirect_to, render
from extensions import db, limiter
from models import DiscountCode, DuplicatePayment, Order, OrganizerRole, OutboxMessage, Profile, Race, TicketType
from services import clock, discount_codes, duplicate_payments, failed_emails, order_accounts, race_stats, refunds
from services import team as team_service
from services.discount_codes import CodeUsage
from services.payments import gateway_for
from services.permissions import role_of
from services.typed_input import is_whole_number

# --- the dashboard ---------------------------------------------------------------------------


def _dashboard_context(race: Race) -> dict:
    now = clock.now()
    figures = race_stats.dashboard(db.session, race, now)
    return {"race": race, "d": figures, "chart": sales_chart(figures.timeline), "now": now,
            "failed_emails": figures.failed_emails, "email_notice": None, "order_ref": race_stats.order_ref,
            "paid_twice": duplicate_payments.open_duplicates(db.session, race.id)}


@bp.get("/races/<int:race_id>/dashboard")
@organizer_required
def dashboard(race: Race):
    """Sales against capacity, money, runners, and whatever needs the organizer's attention."""
    return render("manage/dashboard.html", block="dashboard", **_dashboard_context(race))


@bp.post("/races/<int:race_id>/emails/<int:message_id>/retry")
@organizer_required
def retry_failed_email(race: Race, message_id: int):
    """Send a failed email of this race again, with a fresh set of attempts."""
    message = owned_or_404(OutboxMessage, message_id, _("That email isn't one of this race's."), race_id=race.id)
    was_failed = failed_emails.retry_failed_email(db.session, message, clock.now())
    if not is_fragment_request():
        return redirect_to(url_for("manage.dashboard", race_id=race.id) + "#failed-emails")
    notice = (_("The email to %(address)s will be sent again in a moment.", address=message.to_address) if was_failed
              else _("That email isn't failed any more, so there was nothing to retry."))
    return render("manage/dashboard.html", block="failed_emails", race=race,
                  failed_emails=failed_emails.failed_emails(db.session, race), email_notice=notice)


# --- discount codes --------------------------------------------------------------------------

def _ticket_types(race: Race) -> list[TicketType]:
    return list(db.session.scalars(select(TicketType).where(TicketType.race_id == race.id)
                                   .order_by(TicketType.position, TicketType.id)))


def _codes_context(race: Race, form: DiscountCodeForm | None = None, message: str | None = None,
                   notice: str | None = None) -> dict:
    now = clock.now()
    codes = discount_codes.race_codes(db.session, race)
    usage = discount_codes.code_usage(db.session, race, now)
    if form is None:
        form = DiscountCodeForm(race=race, ticket_types=_ticket_types(race), formdata=None)
    return {"race": race, "codes": codes, "usage": usage, "form": form, "now": now, "message": message,
            "notice": notice, "describe": discount_codes.describe, "code_state": discount_codes.state,
            "no_usage": CodeUsage()}


def _code_or_404(race: Race, code_id: int) -> DiscountCode:
    return owned_or_404(DiscountCode, code_id, _("That code isn't one of this race's."), race_id=race.id)


def _codes_section(race: Race, *, status: int = 200, **context):
    """After a change: the codes page again (no JavaScript), or its section for htmx."""
    if not is_fragment_request() and status < 400:
        return redirect_to(url_for("manage.codes", race_id=race.id))
    return render("manage/codes.html", block="codes_section", status=status, **_codes_context(race, **context))


@bp.get("/races/<int:race_id>/codes")
@organizer_required
def codes(race: Race):
    """The race's discount codes with their uses, and a form for a new one."""
    return render("manage/codes.html", block="codes_section", **_codes_context(race))


@bp.post("/races/<int:race_id>/codes")
@organizer_required
def create_code(race: Race):
    """Make a discount code; errors come back beside their fields."""
    form = DiscountCodeForm(race=race, ticket_types=_ticket_types(race))
    shape = {} if form.validate() else first_errors(form)
    try:
        code = discount_codes.create_code(db.session, race, form.values(), form_problems=shape)
    except discount_codes.CodeRefused as refused:
        show_problems(form, refused.problems)
        return render("manage/codes.html", block="codes_section", status=422, **_codes_context(race, form=form))
    return _codes_section(race, notice=_("%(code)s is ready to use.", code=code.code))


def _edit_context(race: Race, code: DiscountCode, form: DiscountCodeForm | None = None) -> dict:
    usage = discount_codes.code_usage(db.session, race, clock.now()).get(code.id, CodeUsage())
    if form is None:
        form = DiscountCodeForm(race=race, ticket_types=_ticket_types(race), editing=code)
    return {"race": race, "code": code, "usage": usage, "form": form}


@bp.get("/races/<int:race_id>/codes/<int:code_id>")
@organizer_required
def edit_code(race: Race, code_id: int):
    """Change a code: its window, limit and activity always; its discount only until someone uses it."""
    code = _code_or_404(race, code_id)
    return render("manage/code_edit.html", block="code_form", **_edit_context(race, code))


@bp.post("/races/<int:race_id>/codes/<int:code_id>")
@organizer_required
def save_code(race: Race, code_id: int):
    """Save the changes to a code."""
    code = _code_or_404(race, code_id)
    form = DiscountCodeForm(race=race, ticket_types=_ticket_types(race), editing=code)
    shape = {} if form.validate() else first_errors(form)
    try:
        discount_codes.save_code(db.session, race, code, form.values(), clock.now(), form_problems=shape)
    except discount_codes.CodeRefused as refused:
        show_problems(form, refused.problems)
        return render("manage/code_edit.html", block="code_form", status=422, **_edit_context(race, code, form))
    return redirect_to(url_for("manage.codes", race_id=race.id))


@bp.post("/races/<int:race_id>/codes/<int:code_id>/active")
@organizer_required
def toggle_code(race: Race, code_id: int):
    """Deactivate a code (buyers can no longer apply it) or switch it on again."""
    code = _code_or_404(race, code_id)
    discount_codes.set_active(db.session, code, request.form.get("active") == "1")
    return _codes_section(race, notice=(_("%(code)s is active again.", code=code.code) if code.active
                                      else _("%(code)s is switched off.", code=code.code)))


@bp.post("/races/<int:race_id>/codes/<int:code_id>/delete")
@organizer_required
def delete_code(race: Race, code_id: int):
    """Delete a code nobody has used; a used one can only be deactivated."""
    code = _code_or_404(race, code_id)
    name = code.code
    try:
        discount_codes.delete_code(db.session, code)
    except discount_codes.CodeInUse:
        return _codes_section(race, status=422, message=(
            _("%(code)s has been used on orders, so it can't be deleted. Deactivate it instead.", code=name)))
    return _codes_section(race, notice=_("%(code)s is deleted.", code=name))


# --- orders and refunds ------------------------------------------------------------------------

def _order_or_404(race: Race, order_id: uuid.UUID) -> Order:
    return owned_or_404(Order, order_id, _("There's no order with that number in this race."), race_id=race.id)


def _registration_param(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not is_whole_number(raw):
        abort_for_user(400, _("That ticket number isn't valid."))
    return int(raw)


def _order_page(race: Race, order: Order, *, status: int = 200, duplicate_problem: str | None = None):
    code = db.session.get(DiscountCode, order.discount_code_id) if order.discount_code_id else None
    return render("manage/order.html", block="order", status=status, race=race, order=order, code=code,
                  buyer=db.session.get(Profile, order.buyer_id),
                  tickets=refunds.order_registrations(db.session, order.id),
                  account=order_accounts.order_account(db.session, order), order_ref=race_stats.order_ref,
                  refundable=order.status in refunds.REFUNDABLE,
                  duplicates=duplicate_payments.order_duplicates(db.session, order.id),
                  duplicate_problem=duplicate_problem)


@bp.get("/races/<int:race_id>/orders/<uuid:order_id>")
@organizer_required
def order(race: Race, order_id: uuid.UUID):
    """One order: who bought what, what it cost, its refunds, and any payment made twice."""
    return _order_page(race, _order_or_404(race, order_id))


@bp.post("/races/<int:race_id>/orders/<uuid:order_id>/duplicates/<int:duplicate_id>/refund")
@organizer_required
def refund_duplicate(race: Race, order_id: uuid.UUID, duplicate_id: int):
    """Send back, whole, a payment the order did not need (the buyer paid twice): one click, no tickets change."""
    found = _order_or_404(race, order_id)
    owned_or_404(DuplicatePayment, duplicate_id, _("That payment isn't one of this order's."), order_id=found.id)
    try:
        duplicate_payments.refund_duplicate_payment(db.session, gateway_for(current_app), duplicate_id, clock.now(),
                                                    requested_by=g.user)
    except duplicate_payments.DuplicateRefundRefused as refused:
        return _order_page(race, db.session.get(Order, found.id, populate_existing=True), status=refused.status,
                           duplicate_problem=refused.message)
    return redirect_to(url_for("manage.order", race_id=race.id, order_id=found.id) + "#paid-twice")


def _refund_page(race: Race, order: Order, registration_id: int | None, *, status: int = 200,
                 problem: str | None = None):
    plan = None
    try:
        plan = refunds.plan_refund(db.session, order, registration_id)
    except LookupError:
        abort_for_user(404, _("That ticket isn't part of this order."))
    except refunds.RefundRefused as refused:
        problem, status = problem or refused.message, max(status, refused.status)
    return render("manage/refund_confirm.html", block="refund", status=status, race=race, order=order, plan=plan,
                  problem=problem, registration_id=registration_id, buyer=db.session.get(Profile, order.buyer_id),
                  test_gateway=gateway_for(current_app).is_test, order_ref=race_stats.order_ref)


@bp.get("/races/<int:race_id>/orders/<uuid:order_id>/refund")
@organizer_required
def confirm_refund(race: Race, order_id: uuid.UUID):
    """Say exactly what a refund will send back and which spots it frees, before anything happens."""
    found = _order_or_404(race, order_id)
    return _refund_page(race, found, _registration_param(request.args.get("registration")))


@bp.post("/races/<int:race_id>/orders/<uuid:order_id>/refund")
@organizer_required
def refund(race: Race, order_id: uuid.UUID):
    """Refund one ticket or the whole order through the payment provider."""
    found = _order_or_404(race, order_id)
    registration_id = _registration_param(request.form.get("registration"))
    try:
        refunds.request_refund(db.session, gateway_for(current_app), found.id, registration_id, g.user, clock.now())
    except LookupError:
        abort_for_user(404, _("That ticket isn't part of this order."))
    except refunds.RefundRefused as refused:
        return _refund_page(race, db.session.get(Order, found.id, populate_existing=True), registration_id,
                            status=refused.status, problem=refused.message)
    return redirect_to(url_for("manage.order", race_id=race.id, order_id=found.id) + "#refunds")


# --- the team ----------------------------------------------------------------------------------

def _team_context(race: Race, form: InviteForm | None = None, notice: str | None = None,
                  message: str | None = None) -> dict:
    now = clock.now()
    return {"race": race, "members": team_service.members(db.session, race),
            "invites": team_service.pending_invites(db.session, race, now), "form": form or InviteForm(formdata=None),
            "my_role": role_of(db.session, race, g.user.id), "owner_role": OrganizerRole.OWNER,
            "notice": notice, "message": message, "valid_days": team_service.INVITE_VALID_FOR.days}


def _team_section(race: Race, *, status: int = 200, **context):
    if not is_fragment_request() and status < 400:
        return redirect_to(url_for("manage.team", race_id=race.id))
    return render("manage/team.html", block="team_section", status=status, **_team_context(race, **context))


@bp.get("/races/<int:race_id>/team")
@organizer_required
def team(race: Race):
    """Who organizes this race, invitations waiting, and a form to invite someone."""
    return render("manage/team.html", block="team_section", **_team_context(race))


@bp.post("/races/<int:race_id>/team")
@limiter.limit("30 per hour", methods=["POST"])
@organizer_required
def invite(race: Race):
    """Invite a co-organizer by email: added at once if they have an account, else sent a link."""
    form = InviteForm()
    if not form.validate():
        return render("manage/team.html", block="team_section", status=422, **_team_context(race, form=form))
    try:
        outcome = team_service.invite(db.session, race, form.email.data, g.user, clock.now())
    except team_service.TeamRefused as refused:
        form.email.errors = [refused.message]
        return render("manage/team.html", block="team_section", status=refused.status, **_team_context(race, form=form))
    if outcome.added is not None:
        notice = _("%(email)s is now a co-organizer. We've emailed them to say so.", email=outcome.added.email)
    else:
        notice = (_("Invitation sent again to %(email)s; the earlier link no longer works.", email=outcome.invite.email)
                  if outcome.resent else
                  _("Invitation sent to %(email)s. They join once they sign in with that address.", email=outcome.invite.email))
    return _team_section(race, notice=notice)


@bp.post("/races/<int:race_id>/team/<int:member_id>/remove")
@organizer_required
def remove_member(race: Race, member_id: int):
    """Take a co-organizer off the race (the owner), or leave it (a co-organizer)."""
    try:
        link = team_service.remove(db.session, race, member_id, g.user)
    except team_service.TeamRefused as refused:
        if not is_fragment_request():
            abort_for_user(refused.status, refused.message)
        return _team_section(race, status=refused.status, message=refused.message)
    if link.profile_id == g.user.id:
        return redirect_to(url_for("manage.index"))
    return _team_section(race, notice=_("Removed from the team."))


@bp.post("/races/<int:race_id>/team/invites/<int:invite_id>/cancel")
@organizer_required
def cancel_invite(race: Race, invite_id: int):
    """Withdraw an invitation nobody has accepted yet; its link stops working."""
    try:
        team_service.cancel_invite(db.session, race, invite_id)
    except team_service.TeamRefused as refused:
        return _team_section(race, status=refused.status, message=refused.message)
    return _team_section(race, notice=_("Invitation withdrawn."))


def _invite_page(token: str, *, status: int = 200):
    invite = team_service.find_invite(db.session, token)
    problem = None
    try:
        team_service.check_invite(invite, g.user, clock.now())
    except team_service.TeamRefused as refused:
        problem, status = refused.message, refused.status
    race = db.session.get(Race, invite.race_id) if invite is not None else None
    inviter = db.session.get(Profile, invite.invited_by_id) if invite is not None and invite.invited_by_id else None
    return render("manage/invite.html", block="invite", status=status, invite=invite, race=race, inviter=inviter,
                  problem=problem, token=token)


@bp.get("/invites/<token>")
@login_required
def show_invite(token: str):
    """The page an invitation email links to: which race, from whom, and a button to accept."""
    return _invite_page(token)


@bp.post("/invites/<token>")
@login_required
def accept_invite(token: str):
    """Join the race's team, when signed in with the invited address."""
    try:
        invite = team_service.accept(db.session, token, g.user, clock.now())
    except team_service.TeamRefused:
        return _invite_page(token)
    return redirect_to(url_for("manage.dashboard", race_id=invite.race_id))
