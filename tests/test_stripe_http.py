"""The Stripe client's HTTP: the environment's proxy settings read once, when the client is made (issue 17)."""
from __future__ import annotations

import requests

from services.stripe_http import StripeRequests


def test_the_proxy_for_stripe_comes_from_the_environment_once(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = StripeRequests()

    assert client._proxy["https"] == "http://proxy.example:3128"
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere.example:8080")  # read once: a later change is not seen
    assert client._proxy["https"] == "http://proxy.example:3128"


def test_an_address_the_environment_bypasses_gets_no_proxy(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert StripeRequests("http://127.0.0.1:12111")._proxy is None


def test_each_thread_s_session_trusts_nothing_more_from_the_environment(monkeypatch):
    sessions: list[requests.Session] = []

    def answer(self, method, url, **kwargs):
        sessions.append(self)
        response = requests.Response()
        response.status_code, response._content = 200, b"{}"
        return response

    monkeypatch.setattr(requests.Session, "request", answer)
    client = StripeRequests("http://127.0.0.1:12111")
    client.request("get", "http://127.0.0.1:12111/v1/balance", {})
    client.request("get", "http://127.0.0.1:12111/v1/balance", {})

    assert len(sessions) == 2 and sessions[0] is sessions[1]  # one session per thread, kept
    assert sessions[0].trust_env is False  # no proxy lookup nor .netrc read on each call
