"""Links that leave the site (emails, calendar files): absolute URLs on the site's public address."""
from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

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


def share_links(title: str, url: str) -> list[tuple[str, str]]:
    """Where an organizer can share a page in one click: (label, address), each a plain link to the
    service's documented share endpoint with the page's address and title filled in."""
    text = f"{title} {url}"
    return [
        ("Email", "mailto:?" + urlencode({"subject": title, "body": text}, quote_via=_quote)),
        ("WhatsApp", "https://wa.me/?" + urlencode({"text": text})),
        ("Facebook", "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url})),
        ("X", "https://twitter.com/intent/tweet?" + urlencode({"text": title, "url": url})),
        ("LinkedIn", "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": url})),
    ]


def _quote(text: str, safe: str = "", encoding: str | None = None, errors: str | None = None) -> str:
    # mailto: bodies take %20 for spaces; a "+" would show up literally in most mail apps.
    return quote(text, safe=safe, encoding=encoding, errors=errors)
