"""Small helpers for driving forms through the Flask test client."""
from __future__ import annotations

import re


def csrf_token(client, path: str = "/") -> str:
    """The CSRF token a real browser would have after loading `path`: none ("") from a public page that a
    visitor without a session sees cookieless (blueprints/security.py), whose forms take no token."""
    response = client.get(path)
    page = response.get_data(as_text=True)
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page) or \
        re.search(r'"X-CSRFToken": "([^"]+)"', page)
    if match is None and response.status_code == 200 and "Set-Cookie" not in response.headers \
            and 'name="csrf_token"' not in page and "X-CSRFToken" not in page:
        return ""
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post_form(client, path: str, data: dict, *, page: str | None = None, **kw):
    """POST like a browser: with the CSRF token from the page the form is on."""
    data = {"csrf_token": csrf_token(client, page or path), **data}
    return client.post(path, data=data, **kw)


def cookie(client, name: str) -> str | None:
    found = client.get_cookie(name)
    return found.value if found else None
