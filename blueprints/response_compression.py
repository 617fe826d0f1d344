"""Pages and other text answers compressed for a client that accepts it: Brotli, else gzip.

Static files are not this module's: WhiteNoise sends their compressed copies made at start-up.
This runs after every other after_request hook (it is registered first), on the final body; a page
served from the page cache comes already compressed, from the copies kept with it (`variants`).
Left alone: bodies under MIN_BYTES (compressing them saves less than it costs), streamed and
file answers, 304s and other bodiless answers, anything already encoded, and non-text types.
Also left alone, against BREACH: a page for someone with a session (it carries their CSRF token) asked
with a query string (which the page may echo, like a search box): an attacker who can make the browser
ask for many such pages and see their compressed sizes could otherwise guess the token letter by letter.
The same pages without a query string (the editor, the dashboard, the cart) are compressed.
A strong ETag becomes weak (W/"…"): the compressed bytes differ from the ones it was computed
for, and a weak tag still matches If-None-Match (werkzeug compares weakly there).

Cost, measured on the demo race page (10.7 KB of HTML, 3.2 KB compressed): gzip 0.27 ms, Brotli
0.32 ms a request, about 2 % of what rendering that page costs; 2 vCPU, Python 3.11.
"""
from __future__ import annotations

import gzip

import brotli
from flask import Flask, Response, request

from blueprints.security import carries_session

MIN_BYTES = 1024
GZIP_LEVEL = 6
BROTLI_QUALITY = 4  # near gzip's speed, smaller output; 11 is for files compressed once
_TEXT_TYPES = ("application/json", "application/manifest+json", "application/javascript",
               "application/xml", "image/svg+xml", "text/calendar")


def _compressible(response: Response) -> bool:
    mimetype = response.mimetype or ""
    return (200 <= response.status_code < 300 or response.status_code >= 400) \
        and response.status_code not in (204, 206) \
        and not response.direct_passthrough and not response.is_streamed \
        and "Content-Encoding" not in response.headers \
        and (mimetype.startswith("text/") or mimetype in _TEXT_TYPES)


def compress(body: bytes, encoding: str) -> bytes:
    if encoding == "br":
        return brotli.compress(body, quality=BROTLI_QUALITY)
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


def chosen_encoding(accept_encoding) -> str | None:
    """br when the client takes it, else gzip, else None (an `Accept` from werkzeug; q=0 refuses)."""
    for encoding in ("br", "gzip"):
        if accept_encoding[encoding] > 0:
            return encoding
    return None


def compressed(response: Response, variants: dict[str, bytes] | None = None) -> Response:
    """`response` compressed for this request's client when worth it (see the module's notes). `variants`:
    the body's compressed bytes by encoding, filled as asked, for a body sent many times (a cached page:
    services/page_cache.py), so that each encoding costs once."""
    if not _compressible(response) or (request.query_string and carries_session()):
        return response
    body = response.get_data()
    if len(body) < MIN_BYTES:
        return response
    response.vary.add("Accept-Encoding")
    encoding = chosen_encoding(request.accept_encodings)
    if encoding is None:
        return response
    data = variants.get(encoding) if variants is not None else None
    if data is None:
        data = compress(body, encoding)
        if variants is not None:
            variants[encoding] = data
    response.set_data(data)
    response.headers["Content-Encoding"] = encoding
    etag, weak = response.get_etag()
    if etag and not weak:
        response.set_etag(etag, weak=True)
    return response


def register(app: Flask) -> None:
    app.after_request(compressed)
