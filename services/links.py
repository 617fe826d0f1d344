"""Links that leave the site (emails, calendar files): absolute URLs on the site's public address."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def public_url(endpoint: str, **values) -> str:
    """The absolute URL of `endpoint` at SITE_URL, the canonical public address.

    Built from the route table, so a renamed or removed route raises werkzeug's BuildError here
    instead of mailing a dead link; and built against SITE_URL rather than the request's host,
    because the webhook, the mail worker and the CLI have no useful one (and a request's Host
    header is the client's to choose).
    """
    site = urlsplit(current_app.config["SITE_URL"])
    adapter = current_app.url_map.bind(site.netloc, script_name=site.path or "/", url_scheme=site.scheme)
    current_app.inject_url_defaults(endpoint, values)
    return adapter.build(endpoint, values, force_external=True)


def public_host() -> str:
    """The public address's host (and port), e.g. for the domain part of calendar UIDs."""
    return urlsplit(current_app.config["SITE_URL"]).netloc
