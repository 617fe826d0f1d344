"""`page_url`: url_for's answer, built once per route table, mount point and values (issue 17)."""
from __future__ import annotations

from flask import Flask, url_for

from blueprints.rendering import page_url


def test_it_answers_what_url_for_answers_for_each_mount_point(app):
    with app.test_request_context():
        assert page_url("cart.view", slug="ten-k") == url_for("cart.view", slug="ten-k") == "/races/ten-k/cart"
        assert page_url("cart.view", slug="five-k") == "/races/five-k/cart"
    with app.test_request_context(environ_overrides={"SCRIPT_NAME": "/signup"}):
        assert page_url("cart.view", slug="ten-k") == "/signup/races/ten-k/cart"


def test_values_a_url_defaults_function_injects_are_not_kept_from_an_earlier_request():
    app = Flask(__name__)
    app.add_url_rule("/<lang>/races/<slug>", "race", lambda lang, slug: "")
    language = {"now": "en"}

    @app.url_defaults
    def inject(endpoint, values):
        values.setdefault("lang", language["now"])

    with app.test_request_context():
        assert page_url("race", slug="ten-k") == "/en/races/ten-k"
        language["now"] = "es"
        assert page_url("race", slug="ten-k") == "/es/races/ten-k"
