"""Public race pages: the list with active search, one race's page, and its calendar file."""
from __future__ import annotations

from datetime import date, timedelta

from babel.dates import format_date
from flask import Blueprint, Response, current_app, make_response, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SearchField, StringField
from wtforms.validators import Length, Optional, Regexp, ValidationError

from blueprints.cart_owner import in_viewers_cart
from blueprints.languages import current_language, use_race_language
from blueprints.rendering import formatting_locale, is_fragment_request, render
from blueprints.response_compression import compressed
from blueprints.security import carries_session
from blueprints.ticket_form import parse_add_param, race_card_or_404, ticket_form_context
from extensions import db
from services import clock
from services import races as race_service
from services.calendar import site_race_calendar
from services.page_cache import (
    RACE_LANGUAGE,
    CachedPage,
    PageCache,
    app_cache,
    etag_of,
    race_list_key,
    race_page_key,
)

bp = Blueprint("races", __name__)


class RaceSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = SearchField(_l("Search races"), validators=[Optional(), Length(max=100, message=_l(
        "Searches can be at most 100 characters."))])
    month = StringField(_l("Month"), validators=[Optional(), Regexp(
        r"^20\d\d-(0[1-9]|1[0-2])$", message=_l("Pick a month from the list."))])
    when = StringField(_l("When"), validators=[Optional()])  # "past", or anything else for upcoming

    def validate_q(self, field):
        if field.data and any(ord(ch) < 32 for ch in field.data):
            raise ValidationError(_("Searches can't contain control characters."))


def month_choices(now) -> list[tuple[str, str]]:
    """The next twelve months, for the month filter, named in the page's language ("December 2026",
    "Diciembre 2026")."""
    choices = [("", _("Any month"))]
    year, month = now.year, now.month
    for _step in range(12):
        name = format_date(date(year, month, 1), "LLLL y", locale=formatting_locale())
        choices.append((f"{year}-{month:02d}", name[:1].upper() + name[1:]))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return choices


# --- caching the public pages ----------------------------------------------------------------

# What the public pages' answers vary on besides the address: the cookies (a visitor with one gets their own
# page) and the htmx headers that choose between a whole page and a fragment (blueprints/rendering.py).
VARY = ("Cookie", "Accept-Language", "HX-Request", "HX-Boosted", "HX-History-Restore-Request")


def is_anonymous() -> bool:
    """No cookie makes this page the visitor's own: no session, not signed in, no cart."""
    return not carries_session()  # the session, the sign-in cookies or a guest's cart


def page_cache(which: str = "race_page_cache") -> PageCache:
    """This app's cache of rendered race pages, or of race list pages (`which="race_list_cache"`: their own,
    so searches nobody repeats never push a race page out); per app, as tests run many apps on many databases."""
    config = current_app.config
    return app_cache(current_app.extensions, which, config["PAGE_CACHE_SECONDS"], config["PAGE_CACHE_SIZE"])


def cached_page(cache: PageCache, name, key, read_key, build) -> Response:
    """The page stored under `name` for `key` (just read), or `build()` rendered now and stored when `read_key()`
    says the key has not moved while it rendered (a sale meanwhile could be in the page and not in the key);
    with the public caching headers of an anonymous visitor's page."""
    page = cache.get(name, key)
    if page is None:
        body = build().get_data()
        page = cache.put(name, key, body) if read_key() == key else CachedPage(key, body, etag_of(body), 0.0)
    return compressed(cache_headers(make_response(page.body), page.etag), page.encoded)


def caching() -> bool:
    return is_anonymous() and current_app.config["PAGE_CACHE_SECONDS"] > 0


def cache_headers(response: Response, etag: str | None = None) -> Response:
    """A page anyone may cache for a few seconds (with its ETag: a matching If-None-Match gets a 304) when
    the visitor has no cookie of ours; otherwise their own page, checked again before every use."""
    response.vary.update(VARY)
    if not is_anonymous() or response.status_code != 200:
        response.headers["Cache-Control"] = "private, no-cache"
        return response
    response.cache_control.public = True
    response.cache_control.max_age = current_app.config["PUBLIC_PAGE_MAX_AGE"]
    response.set_etag(etag or etag_of(response.get_data()), weak=True)
    return response.make_conditional(request)


@bp.get("/")
def index():
    """Upcoming (or past) published races, filtered by a search and a month."""
    now = clock.now()
    form = RaceSearchForm(request.args, meta={"csrf": False})
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 0
    if not form.validate() or not 1 <= page <= 1000:
        return render("races/index.html", block="results", form=form, cards=[], has_more=False,
                      page=1, past=form.when.data == "past", months=month_choices(now), status=400,
                      invalid=True)
    past = form.when.data == "past"
    search = {"q": (form.q.data or "").strip(), "month": form.month.data or "", "past": past, "page": page,
              "per_page": current_app.config["RACES_PER_PAGE"]}

    def build() -> Response:
        cards, has_more = race_service.list_races(db.session, now, **search)
        return render("races/index.html", block="results", form=form, cards=cards,
                      has_more=has_more, page=page, past=past, months=month_choices(now), invalid=False)

    if caching():  # the same for every visitor without cookies: from the cache while its key holds
        name = (tuple(sorted(request.args.items(multi=True))), "fragment" if is_fragment_request() else "page",
                current_language())
        def read_key() -> tuple:
            return race_list_key(db.session, now, **search)

        return cached_page(page_cache("race_list_cache"), name, read_key(), read_key, build)
    return cache_headers(build())


@bp.get("/races/<slug>")
def race_page(slug: str):
    """One race: when, where, what it costs, and what is left.

    The page as a visitor without cookies sees it is the same for all of them: it comes from this process's
    page cache while its key (services/page_cache.py, read from the database) is unchanged.
    """
    if caching() and not request.args:
        now = clock.now()
        key = race_page_key(db.session, slug, now)
        if key is not None:
            use_race_language(key[RACE_LANGUAGE])
            name = (slug, "fragment" if is_fragment_request() else "page", current_language())
            return cached_page(page_cache(), name, key, lambda: race_page_key(db.session, slug, now),
                               lambda: _race_page(slug, now))
    return cache_headers(_race_page(slug, clock.now()))


def _race_page(slug: str, now) -> Response:
    card = race_card_or_404(slug, now)
    use_race_language(card.race.language)
    # `?add=12:2,13:1` is a choice kept in a link (old sign-in links have it): filled in, added only on Add.
    visible = {o.ticket_type.id for o in card.offers}
    chosen = {type_id: n for type_id, n in parse_add_param(request.args.get("add")).items() if type_id in visible}
    return render("races/race.html", **ticket_form_context(card, now, chosen=chosen, returning=bool(chosen),
                                                           in_cart=in_viewers_cart(card.race.id)))


@bp.get("/races/<slug>.ics")
def race_ics(slug: str):
    """The race as a calendar event."""
    card = race_card_or_404(slug)
    body = site_race_calendar(card.race)
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'attachment; filename="{slug}.ics"'
    response.cache_control.max_age = int(timedelta(minutes=5).total_seconds())
    return response
