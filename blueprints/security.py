"""Security headers on every response: a Content-Security-Policy without inline scripts, and friends."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

# Stripe Checkout is a redirect to Stripe's page (never embedded), so no payment permission.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=()"
HSTS = "max-age=63072000; includeSubDomains"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(config, style_hashes: tuple[str, ...] = ()) -> str:
    """Scripts, styles and requests from our own origin only; images also from Supabase Storage.

    htmx is a file of ours and evaluates nothing (allowEval is off), pages carry no inline
    script, style element or style attribute, and forms post to us or, after a redirect, to
    Stripe Checkout. `style_hashes` lets a page show an email in a sandboxed srcdoc frame (which
    inherits this policy): exactly those style attributes, by their SHA-256, and no other.
    """
    images = ["'self'", "data:", "blob:"]
    if config.get("STORAGE") == "supabase" and _origin(config.get("SUPABASE_URL", "")):
        images.append(_origin(config["SUPABASE_URL"]))
    form_targets = ["'self'", "https://checkout.stripe.com"]
    if _origin(config.get("STRIPE_API_BASE") or ""):  # a local stand-in's payment page
        form_targets.append(_origin(config["STRIPE_API_BASE"]))
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", *(["'unsafe-hashes'", *(f"'sha256-{h}'" for h in style_hashes)] if style_hashes else [])],
        "img-src": images,
        "connect-src": ["'self'"],
        "form-action": form_targets,
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def register(app: Flask) -> None:
    if app.config.get("PROXY_HOPS"):
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", content_security_policy(app.config))
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        if app.config["APP_ENV"] == "production":
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
