"""Page weight: the race page's HTML plus every same-origin stylesheet and script it links, gzip-compressed.

The request says `Accept-Encoding: gzip`. The app compresses (pages in blueprints/response_compression.py,
static files by WhiteNoise from copies made at start-up), so the bytes are counted as it sends them; a
body that comes back plain is gzip-compressed here at level 6, the common default of proxies, and the
result says so. tests/test_static_delivery.py measures the same way through the test client (`fetch`).
"""
from __future__ import annotations

import gzip
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

BUDGET_BYTES = 30 * 1024
# (url, request headers) -> (body as sent, its Content-Encoding)
Fetch = Callable[[str, dict[str, str]], tuple[bytes, str]]


@dataclass
class Resource:
    url: str
    kind: str            # html | css | js
    raw_bytes: int
    gzip_bytes: int
    compressed_by: str   # server | bench


@dataclass
class PageWeight:
    url: str
    resources: list[Resource] = field(default_factory=list)
    inline_scripts: int = 0
    other_origin: list[str] = field(default_factory=list)

    @property
    def gzip_total(self) -> int:
        return sum(r.gzip_bytes for r in self.resources)

    @property
    def raw_total(self) -> int:
        return sum(r.raw_bytes for r in self.resources)

    @property
    def within_budget(self) -> bool:
        return self.gzip_total <= BUDGET_BYTES

    @property
    def scripts(self) -> list[str]:
        return [r.url for r in self.resources if r.kind == "js"]

    @property
    def only_allowed_scripts(self) -> bool:
        """No inline script, and no file but htmx and the service worker's loader (static/js/offline.js)."""
        return self.inline_scripts == 0 and all(
            "htmx" in urlsplit(s).path or "/js/offline." in urlsplit(s).path for s in self.scripts)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.styles, self.scripts, self.inline_scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and "stylesheet" in (attrs.get("rel") or "").lower().split() and attrs.get("href"):
            self.styles.append(attrs["href"])
        elif tag == "script":
            if attrs.get("src"):
                self.scripts.append(attrs["src"])
            elif (attrs.get("type") or "text/javascript").lower() in ("text/javascript", "module", "application/javascript"):
                self.inline_scripts += 1


def http_fetch(url: str, headers: dict[str, str]) -> tuple[bytes, str]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
        return response.read(), (response.headers.get("Content-Encoding") or "").lower()


def _fetch(fetch: Fetch, url: str, kind: str) -> tuple[Resource, bytes]:
    body, encoding = fetch(url, {"Accept-Encoding": "gzip"})
    if encoding == "gzip":
        raw = gzip.decompress(body)
        return Resource(url, kind, len(raw), len(body), "server"), raw
    return Resource(url, kind, len(body), len(gzip.compress(body, compresslevel=6)), "bench"), body


def measure(url: str, fetch: Fetch = http_fetch) -> PageWeight:
    """The race page at `url` and what it links, as a first-time visitor downloads them."""
    weight = PageWeight(url)
    page, html = _fetch(fetch, url, "html")
    weight.resources.append(page)
    links = _Links()
    links.feed(html.decode("utf-8", errors="replace"))
    weight.inline_scripts = links.inline_scripts
    origin = urlsplit(url).netloc
    for kind, hrefs in (("css", links.styles), ("js", links.scripts)):
        for href in dict.fromkeys(hrefs):
            absolute = urljoin(url, href)
            if urlsplit(absolute).netloc != origin:
                weight.other_origin.append(absolute)
                continue
            weight.resources.append(_fetch(fetch, absolute, kind)[0])
    return weight
