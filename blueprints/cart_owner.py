"""Whose cart a request works on: the signed-in buyer's, or a visitor's kept by a signed cookie,
merged into the account on the first request that is signed in.

The cookie holds a random key signed with SECRET_KEY (salt "guest-cart"); the database keeps its
hash (services/guest_carts.py). It is separate from the Flask session because signing in clears
that session. A forged, garbled or stale cookie is simply no cart.

An emailed link (confirm the address, sign in) may open in another browser, say a phone's mail app:
the cart goes along as `?cart=` on the link back to the cart page, the same key signed for that one
purpose (salt "guest-cart-carry") and good for the cart's lifetime, merged once that request is signed in.
"""
from __future__ import annotations

import re
from collections import Counter

from flask import Flask, current_app, flash, g, request
from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer

from extensions import db
from services import clock
from services.cart import CartOwner
from services.cart_status import CartContents, cart_contents
from services.guest_carts import GUEST_CART_LIFETIME, guest_owner, merge_guest_carts, new_guest_key
from services.transactions import wrote_anything

GUEST_COOKIE = "startline_cart"
_KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
CART_NOTICE = "cart"  # the flash category the cart page shows


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="guest-cart")


def _carrier() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="guest-cart-carry")


def _valid_key(key) -> str | None:
    return key if isinstance(key, str) and _KEY.match(key) else None


def _cookie_key() -> str | None:
    """The key in this request's cart cookie, if the cookie is ours and intact."""
    raw = request.cookies.get(GUEST_COOKIE, "")
    if not raw or len(raw) > 200:
        return None
    try:
        return _valid_key(_serializer().loads(raw))
    except BadData:
        return None


def _carried_key() -> str | None:
    """The key a link back to the cart carries (`?cart=`), if it is ours, intact and not older than a cart lives."""
    raw = request.args.get("cart", "")
    if not raw or len(raw) > 300:
        return None
    try:
        return _valid_key(_carrier().loads(raw, max_age=int(GUEST_CART_LIFETIME.total_seconds())))
    except BadData:
        return None


def cart_link(endpoint_url: str) -> str:
    """`endpoint_url` (the cart page) carrying this visitor's cart, for a link that may open in another browser."""
    key = _cookie_key()
    if key is None:
        return endpoint_url
    return f"{endpoint_url}{'&' if '?' in endpoint_url else '?'}cart={_carrier().dumps(key)}"


def cart_owner() -> CartOwner | None:
    """The signed-in buyer, or the visitor whose cart cookie came with this request; None for neither."""
    if g.get("user") is not None:
        return CartOwner(profile_id=g.user.id)
    key = g.get("guest_key") or _cookie_key()
    return guest_owner(key) if key else None


def cart_owner_for_adding() -> CartOwner:
    """cart_owner(), or a new visitor's, whose cookie this response sets."""
    owner = cart_owner()
    if owner is None:
        g.guest_key = new_guest_key()
        owner = guest_owner(g.guest_key)
    return owner


def viewers_cart_contents() -> CartContents:
    """What this person's carts hold, read once per request (the header badge and the race page share
    it); `g.pop("cart_contents")` after a change reads it again."""
    if "cart_contents" not in g:
        owner = cart_owner()
        empty = owner is None or (not owner.is_guest and _known_to_have_no_cart())
        g.cart_contents = CartContents() if empty else cart_contents(db.session, owner, clock.now())
    return g.cart_contents


def _known_to_have_no_cart() -> bool:
    """The signed-in user's profile, read as this request began with the fact "has a cart?" (Profile.has_cart),
    said no, and this request has written nothing since (a cart it filled or merged is read afresh): a page of
    theirs then spends no query on the badge (issue 17)."""
    return not wrote_anything(db.session) and not g.user.has_cart


def in_viewers_cart(race_id: int) -> Counter:
    """{ticket type id: tickets} the person looking at a race page has in their cart for it."""
    return viewers_cart_contents().in_race(race_id)


def merge_guest_carts_into_account(key: str | None = None) -> list[str]:
    """Move the carts of this request's cart cookie (or of `key`) into the signed-in account, and drop the
    cookie. Returns what the buyer is told (also flashed for the cart page)."""
    g.drop_guest_cookie = True
    key = key or _cookie_key()
    if key is None:
        return []
    notices = merge_guest_carts(db.session, guest_owner(key).guest_key, g.user.id, clock.now())
    for notice in notices:
        flash(notice, CART_NOTICE)
    return notices


def _merge_at_sign_in() -> None:
    """The first signed-in request that still carries a cart cookie, or a link that carries a cart, moves
    those carts into the account.

    Runs after auth's load_current_user, so it covers sign-in, sign-up and email links alike.
    """
    if g.get("user") is None:
        return
    carried = _carried_key() if request.method == "GET" else None
    if carried is not None:
        merge_guest_carts_into_account(carried)
    if GUEST_COOKIE in request.cookies:  # merged (unless it is the carried one), or garbled: dropped either way
        cookie = _cookie_key()
        if cookie not in (None, carried):
            merge_guest_carts_into_account(cookie)
        g.drop_guest_cookie = True


def _write_guest_cookie(response):
    if GUEST_COOKIE in request.cookies and request.endpoint != "static":
        # A visitor's cart (their runners) is theirs alone: no shared cache may keep a page of it.
        response.headers.setdefault("Cache-Control", "private, no-store")
        response.vary.add("Cookie")
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    if g.get("drop_guest_cookie"):
        response.delete_cookie(GUEST_COOKIE, httponly=True, secure=secure, samesite="Lax")
        return response
    key = g.get("guest_key") or (_cookie_key() if request.method == "POST" and g.get("user") is None else None)
    if key and response.status_code < 400:  # a new cart, or any change to one: a week from now
        response.set_cookie(GUEST_COOKIE, _serializer().dumps(key), max_age=int(GUEST_CART_LIFETIME.total_seconds()),
                            httponly=True, secure=secure, samesite="Lax", path="/")
        response.headers["Cache-Control"] = "private, no-store"
        response.vary.add("Cookie")
    return response


def register_cart_cookie(app: Flask) -> None:
    """Registered after auth, whose before_request sets g.user."""
    app.before_request(_merge_at_sign_in)
    app.after_request(_write_guest_cookie)
