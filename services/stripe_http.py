"""The HTTP client the app's StripeClient talks through: `requests`, with the environment read once.

By default `requests` reads the proxy settings (HTTPS_PROXY, NO_PROXY, ...) from the environment and looks for a
.netrc file on every call: about 1.6 ms of CPU per Stripe call, paid by every checkout at a registration opening,
where checkouts queue for the CPU (issue 17). Here the proxy for Stripe's address is worked out once, when the
client is made, by the same rules `requests` applies (`get_environ_proxies`, NO_PROXY included), and each thread's
session then trusts nothing more from the environment. The CA bundle is Stripe's own either way (the library passes
`verify` on every call).
"""
from __future__ import annotations

import requests
import stripe
from requests.utils import get_environ_proxies

STRIPE_API = "https://api.stripe.com"


class StripeRequests(stripe.RequestsClient):
    """stripe.RequestsClient, one `requests.Session` per thread (as the library keeps them), the environment
    read once."""

    def __init__(self, api_base: str | None = None, **kwargs):
        proxies = get_environ_proxies(api_base or STRIPE_API)
        proxy = {scheme: proxies[scheme] for scheme in ("http", "https") if scheme in proxies} or None
        super().__init__(proxy=proxy, **kwargs)

    def _request_internal(self, method, url, headers, post_data, is_streaming):
        if getattr(self._thread_local, "session", None) is None:
            session = requests.Session()
            session.trust_env = False  # the proxies are ours (above); no .netrc, no REQUESTS_CA_BUNDLE
            self._thread_local.session = session
        return super()._request_internal(method, url, headers, post_data, is_streaming)
