"""Static files: copied once at start-up under names that carry their content hash, compressed
(gzip and Brotli), and served by WhiteNoise in front of the app.

`asset("css/app.css")` gives "/static/css/app.<hash>.css", sent with a year's `immutable` cache:
new content gets a new name. The plain name (`/static/css/app.css`, the manifest's icons, an
old page's link after a deploy) still answers, with a short cache. The build lives in
instance/static-build/<hash of the whole tree>/, so a second start with the same files (every
test, every gunicorn worker) reuses it, and two processes building at once cannot see half a
build. With FLASK_DEBUG the app serves static/ itself, read fresh on every request.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import zopfli.gzip
from flask import Flask, g, request, url_for
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

from blueprints.request_log import _SANE_ID
from blueprints.request_log import HEADER as REQUEST_ID_HEADER
from blueprints.security import HSTS, PERMISSIONS_POLICY, content_security_policy

HASH_LENGTH = 12
# "app.0123456789ab.css": the name asset() gives; only such a URL is cached for good.
HASHED_NAME = re.compile(rf"\.[0-9a-f]{{{HASH_LENGTH}}}\.[A-Za-z0-9]+$")
# Each page loads one stylesheet with only the rules its templates use (assets/build_css.py, `make css`).
STYLESHEETS = {"races": "css/race.css", "manage": "css/manage.css"}
# A signed-in visitor's race pages have the account menu: their stylesheet has its rules, race.css not (it is
# what a first-time visitor downloads with the race page, and counts in its weight).
SIGNED_IN_STYLESHEETS = {"races": "css/race-signed-in.css"}
DEFAULT_STYLESHEET = "css/site.css"
SHORT_MAX_AGE = 300  # seconds, for a plain name: its content may change at the next deploy
_STALE_BUILD_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class StaticBuild:
    root: Path              # what is served: the files under both names, and their .gz and .br
    names: dict[str, str]   # "css/app.css" -> "css/app.0123456789ab.css"


def hashed_name(name: str, digest: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot or "/" in suffix:
        return f"{name}.{digest[:HASH_LENGTH]}"
    return f"{stem}.{digest[:HASH_LENGTH]}.{suffix}"


def build(source: Path, into: Path) -> StaticBuild:
    """Every file of `source` under its plain and its hashed name, each with .gz and .br beside it
    where compression pays. Idempotent: the same tree is built once."""
    files = {path.relative_to(source).as_posix(): path for path in sorted(source.rglob("*"))
             if path.is_file() and not any(part.startswith(".") for part in path.relative_to(source).parts)}
    digests = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}
    names = {name: hashed_name(name, digest) for name, digest in digests.items()}
    tree = hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()[:16]
    target = into / tree
    if not (target / "manifest.json").is_file():
        into.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=into, prefix=".building-"))
        try:
            _write(files, names, scratch / "files")
            (scratch / "manifest.json").write_text(json.dumps(names, indent=1, sort_keys=True))
            os.rename(scratch, target)
        except OSError:
            if not (target / "manifest.json").is_file():  # not a build that another process finished first
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        _prune(into, keep=target)
    return StaticBuild(target / "files", names)


class _Compressor(Compressor):
    """WhiteNoise's, with gzip by Zopfli: a few per cent smaller than zlib's best, for any gzip reader."""

    @staticmethod
    def compress_gzip(data: bytes) -> bytes:
        return zopfli.gzip.compress(data)


def _write(files: dict[str, Path], names: dict[str, str], into: Path) -> None:
    compressor = _Compressor(quiet=True)
    for name, path in files.items():
        hashed = into / names[name]
        hashed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, hashed)
        variants = compressor.compress(str(hashed)) if compressor.should_compress(name) else []
        for variant in [str(hashed), *variants]:  # the plain name gets the same bytes
            shutil.copyfile(variant, str(into / name) + variant[len(str(hashed)):])


def _prune(into: Path, keep: Path) -> None:
    """Builds of older files, once nothing started in the last week could still be using them."""
    for old in into.iterdir():
        if old != keep and time.time() - old.stat().st_mtime > _STALE_BUILD_SECONDS:
            shutil.rmtree(old, ignore_errors=True)


class StaticFiles(WhiteNoise):
    """WhiteNoise, with the request id every answer of the site carries (the security headers,
    the same for every file, are added once per file by `add_headers_function`)."""

    FOREVER = 365 * 24 * 3600  # a year, as for uploaded media (WhiteNoise's own is ten)

    def serve(self, static_file, environ, start_response):
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SANE_ID.fullmatch(incoming) else secrets.token_hex(8)

        def start_with_id(status, headers, exc_info=None):
            return start_response(status, [*headers, (REQUEST_ID_HEADER, request_id)], exc_info)

        return WhiteNoise.serve(static_file, environ, start_with_id)


def register(app: Flask) -> None:
    """Serve static files from the hashed, compressed build (or, in debug, from static/ as Flask does),
    and give templates `asset(name)`."""
    if app.debug:
        hashes: dict[str, str] = {}

        def asset(filename: str) -> str:
            path = Path(app.static_folder) / filename
            hashes[filename] = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
            return url_for("static", filename=filename, v=hashes[filename])
        app.extensions["static_build_id"] = "dev"
    else:
        static = build(Path(app.static_folder), Path(app.instance_path) / "static-build")
        prefix = app.static_url_path.rstrip("/") + "/"
        app.extensions["static_build_id"] = static.root.parent.name  # the hash of the whole tree

        def asset(filename: str) -> str:
            return prefix + static.names[filename]

        security = {
            "Content-Security-Policy": content_security_policy(app.config),
            "Referrer-Policy": "strict-origin-when-cross-origin",
            "X-Content-Type-Options": "nosniff",
            "Permissions-Policy": PERMISSIONS_POLICY,
            "X-Frame-Options": "DENY",
        }
        if app.config["APP_ENV"] == "production":
            security["Strict-Transport-Security"] = HSTS

        def add_headers(headers, path, url):
            for name, value in security.items():
                headers[name] = value

        app.wsgi_app = StaticFiles(app.wsgi_app, root=static.root, prefix=prefix, max_age=SHORT_MAX_AGE,
                                   immutable_file_test=lambda path, url: bool(HASHED_NAME.search(url)),
                                   add_headers_function=add_headers)
    app.jinja_env.globals["asset"] = asset
    app.jinja_env.globals["page_stylesheet"] = page_stylesheet


def page_stylesheet() -> str:
    """The stylesheet this request's page loads, by the blueprint that renders it and whether one is signed in."""
    blueprint = request.blueprint or ""
    if g.get("user") is not None and blueprint in SIGNED_IN_STYLESHEETS:
        return SIGNED_IN_STYLESHEETS[blueprint]
    return STYLESHEETS.get(blueprint, DEFAULT_STYLESHEET)
