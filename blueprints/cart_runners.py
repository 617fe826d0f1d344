"""The runner forms on the cart page: save one runner (htmx swaps that card only), save them all at once
(without JavaScript), and check a field as it is typed. The routes belong to the cart blueprint.
"""
from __future__ import annotations

from flask import Flask, g, make_response, request, url_for
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block

from blueprints import cart
from blueprints.cart import _own_cart_or_404, _own_registration_or_404, bp, cart_page, race_or_404
from blueprints.cart_forms import DEPENDENT_FIELDS, NOT_ON_THE_FORM, RunnerForm
from blueprints.errors import abort_for_user
from blueprints.rendering import is_fragment_request, redirect_to, render
from blueprints.runner_cards import (
    CardUrls,
    RunnerCard,
    buyer_email,
    changed,
    copy_from_first,
    posted_form,
    saved_form,
)
from blueprints.saved_cards import saved_card
from extensions import db
from models import Order, Race, Registration
from services import cart as cart_service
from services import cart_status, clock
from services.runners import RunnerRefused, save_runner, save_runners, waiver_to_sign


@bp.get("/cart/runners/<int:registration_id>")
def runner(registration_id: int):
    """A runner's form is a card on the cart page: go there."""
    registration = _own_registration_or_404(registration_id)
    race = db.session.get(Race, registration.race_id)
    return redirect_to(url_for("cart.view", slug=race.slug, _anchor=f"runner-{registration.id}"))


@bp.post("/cart/runners/<int:registration_id>")
def save(registration_id: int):
    """Save one runner and their signature; htmx gets that runner's card back and the summary out of band."""
    registration = _own_registration_or_404(registration_id)
    order = registration.order
    race = db.session.get(Race, registration.race_id)
    waiver, now = waiver_to_sign(db.session, race.id), clock.now()
    tickets = cart_service.cart_registrations(db.session, order)
    form = posted_form(registration, race, waiver, now)
    if request.form.get("fill") and g.user is not None:  # "This is me": fill in, save nothing yet
        form.fill_in_buyer(g.user)
        return _answer(race, order, registration, form, opened=True)
    if registration.id != tickets[0].id:
        copy_from_first([form], tickets[0], posted_form(tickets[0], race, waiver, now))
    if not form.validate():
        return _answer(race, order, registration, form, status=422)
    try:
        save_runner(db.session, registration, form.details(), race=race, ticket_type=registration.ticket_type,
                    waiver=waiver, now=now, ip=request.remote_addr or "", buyer_email=buyer_email())
    except RunnerRefused:  # the form applies the same rules; this is the last line of defence
        return _answer(race, order, registration, form, status=422)
    if not is_fragment_request():
        return redirect_to(url_for("cart.view", slug=race.slug, saved=registration.id,
                                   _anchor=_next_stop(tickets, race, waiver, now)))
    return _answer(race, order, registration, None)


def _next_stop(tickets: list[Registration], race: Race, waiver, now) -> str:
    """Where the cart page opens after a save: the next runner still to fill in, or the way to payment."""
    todo = next((r for r in cart_status.runner_statuses(db.session, tickets, race, waiver, now) if not r.complete), None)
    return f"runner-{todo.registration.id}" if todo is not None else "cart-checkout"


def _answer(race: Race, order: Order, registration: Registration, form: RunnerForm | None, *, status: int = 200,
            opened: bool = False):
    """One runner's card (and, for htmx, the cart's problems and Continue button out of band), or the whole page."""
    if not is_fragment_request():
        return cart_page(race, order, status=status, forms={registration.id: form} if form else None)
    view = cart_status.view_cart(db.session, order, clock.now())
    status_of = next(r for r in view.runners if r.registration.id == registration.id)
    first = view.runners[0].registration
    card = RunnerCard(status=status_of, urls=CardUrls.for_race(race), open=form is not None or opened,
                      form=form or saved_form(registration, race, view.waiver, clock.now(), first),
                      first_name=first.runner_name)
    body = render_block("cart/_runner.html", "card", card=card, race=race, waiver=view.waiver)
    if form is None:
        body += render_block("cart/cart.html", "runners_status", view=view, saved=[registration.runner_name], oob=True)
    body += render_block("cart/cart.html", "checkout", view=view, oob=True)
    return make_response(body, status)


@bp.post("/races/<slug>/cart/runners")
def save_all(slug: str):
    """Without JavaScript the cart page is one form: save every runner that is valid, errors beside the others."""
    race = race_or_404(slug)
    order = _own_cart_or_404(race)
    waiver, now = waiver_to_sign(db.session, race.id), clock.now()
    tickets = cart_service.cart_registrations(db.session, order)
    if not tickets:
        return cart_page(race, order, status=422)
    forms = {r.id: posted_form(r, race, waiver, now) for r in tickets}
    fill = request.form.get("fill", "")
    if fill and g.user is not None:  # "This is me" on one card: fill it in, keep what the others hold
        if fill not in {str(r.id) for r in tickets}:
            abort_for_user(400, _("There's no such runner in your cart."))
        forms[int(fill)].fill_in_buyer(g.user)
        typed = {r.id: forms[r.id] for r in tickets if changed(forms[r.id], r)}
        return cart_page(race, order, forms=typed | {int(fill): forms[int(fill)]})
    invalid, saved = save_posted_runners(race, tickets, forms, waiver, now)
    if invalid:
        return cart_page(race, order, status=422, forms=invalid, saved=[r.runner_name for r in saved])
    if is_fragment_request():
        return cart_page(race, order, saved=[r.runner_name for r in saved])
    return redirect_to(url_for("cart.view", slug=race.slug, saved=",".join(str(r.id) for r in saved)))


def save_posted_runners(race: Race, tickets: list[Registration], forms: dict[int, RunnerForm], waiver, now, *,
                        everyone: bool = False) -> tuple[dict[int, RunnerForm], list[Registration]]:
    """Save every posted runner someone typed in that is valid (one commit): ({ticket id: refused form}, saved).
    `everyone` (on the way to payment) judges the runners still incomplete too, typed in or not."""
    if not tickets:
        return {}, []
    copy_from_first([forms[r.id] for r in tickets[1:]], tickets[0], forms[tickets[0].id])
    statuses = {s.registration.id: s for s in cart_status.runner_statuses(db.session, tickets, race, waiver, now, buyer_email())}
    touched = [r for r in tickets if changed(forms[r.id], r) or (everyone and not statuses[r.id].complete)]
    invalid = {r.id: forms[r.id] for r in touched if not forms[r.id].validate()}
    valid = [r for r in touched if r.id not in invalid]
    refused = save_runners(db.session, [(r, forms[r.id].details()) for r in valid], race=race, waiver=waiver,
                           now=now, ip=request.remote_addr or "", buyer_email=buyer_email())
    invalid |= {r.id: forms[r.id] for r in valid if r.id in refused}
    return invalid, [r for r in valid if r.id not in refused]


@bp.post("/cart/runners/<int:registration_id>/check")
def check_runner(registration_id: int):
    """Check one field as it is typed (nothing is saved); 422 with the message when it is wrong."""
    registration = _own_registration_or_404(registration_id)
    name = request.form.get("_field", "")
    race = db.session.get(Race, registration.race_id)
    form = posted_form(registration, race, waiver_to_sign(db.session, race.id), clock.now())
    if name not in form._fields or name in NOT_ON_THE_FORM:
        abort_for_user(400, _("There's no such field on the runner form."))
    form.validate()
    dependents = DEPENDENT_FIELDS.get(name, ()) if form.waiver is not None else ()  # all of them are on the waiver
    return render("cart/_field_check.html", block="field_check", form=form, check_field=name, dependents=dependents,
                  status=422 if form[name].errors else 200)


def register(app: Flask) -> None:
    """The cart blueprint, these runner routes included."""
    cart.register(app)
    app.jinja_env.globals["saved_card"] = saved_card  # a saved runner card, laid out once per kind (cart.html)
