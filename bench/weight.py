"""Page weight: the race page's HTML plus every same-origin stylesheet and script it links, gzip-compressed.

The request says `Accept-Encoding: gzip`. When the server compresses, its bytes are counted as sent;
when it does not (gunicorn and Flask don't; a proxy or CDN in front usually does), the body is
gzip-compressed here at level 6, the common default of proxies, and the result says so.
"""
from __future__ import annotations

import gzip
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

BUDGET_BYTES = 30 * 1024  # issue 17: the race page, HTML + CSS + JS, compressed


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
    def only_script_is_htmx(self) -> bool:
        return self.inline_scripts == 0 and all("htmx" in urlsplit(s).path for s in self.scripts)


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


def _fetch(url: str, kind: str) -> tuple[Resource, bytes]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        encoding = (response.headers.get("Content-Encoding") or "").lower()
    if encoding == "gzip":
        raw = gzip.decompress(body)
        return Resource(url, kind, len(raw), len(body), "server"), raw
    return Resource(url, kind, len(body), len(gzip.compress(body, compresslevel=6)), "bench"), body


def measure(url: str) -> PageWeight:
    """The race page at `url` and what it links, as a first-time visitor downloads them."""
    weight = PageWeight(url)
    page, html = _fetch(url, "html")
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
            weight.resources.append(_fetch(absolute, kind)[0])
    return weight
