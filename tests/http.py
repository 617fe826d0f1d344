"""Small helpers for driving forms through the Flask test client."""
from __future__ import annotations

import re


def csrf_token(client, path: str = "/") -> str:
    """The CSRF token a real browser would have after loading `path`. A public page that a visitor without a
    session sees cookieless gives none (its own forms need none: blueprints/security.py); a test that wants one
    then gets the token of the session the sign-in page starts, as such a page used to start one."""
    response = client.get(path)
    page = response.get_data(as_text=True)
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page) or \
        re.search(r'"X-CSRFToken": "([^"]+)"', page)
    if match is None and response.status_code == 200 and "Set-Cookie" not in response.headers \
            and path != "/auth/sign-in":
        return csrf_token(client, "/auth/sign-in")
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post_form(client, path: str, data: dict, *, page: str | None = None, **kw):
    """POST like a browser: with the CSRF token from the page the form is on."""
    data = {"csrf_token": csrf_token(client, page or path), **data}
    return client.post(path, data=data, **kw)


def cookie(client, name: str) -> str | None:
    found = client.get_cookie(name)
    return found.value if found else None
