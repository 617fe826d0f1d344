"""The application factory: configuration, extensions, blueprints, CLI commands and hooks."""
from __future__ import annotations

from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader, StrictUndefined

import cli
from blueprints import (
    api,
    auth,
    cart_account,
    cart_runners,
    checkout,
    errors,
    languages,
    manage,
    offline,
    races,
    read_only_requests,
    request_log,
    response_compression,
    runner_invites,
    security,
    site,
    static_files,
    ticket_changes,
    tickets,
    unsubscribe,
    url_ids,
    waitlist,
    webhooks,
)
from blueprints.rendering import register_template_helpers
from blueprints.template_environment import TemplateEnvironment
from config import BASE_DIR, INSTANCE_DIR, Config, engine_options, production_problems
from extensions import csrf, db, limiter, migrate
from services.worker import start_worker_thread


def create_app(config: type | dict | None = None) -> Flask:
    """Build the Flask app; `config` is a Config class or a dict of overrides."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), static_folder="static",
                template_folder="templates")
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)

    if app.config["APP_ENV"] == "production":
        problems = production_problems(app.config)
        if problems:
            raise RuntimeError("Startline refuses to start in production:\n- " + "\n- ".join(problems))

    INSTANCE_DIR.mkdir(exist_ok=True)
    response_compression.register(app)  # before every other hook, so it runs after them all
    request_log.register(app)  # first, so every later hook and log line has the request id
    security.register(app)

    # Templates from templates/, fragments shared between pages as "partials/_x.html".
    app.jinja_environment = TemplateEnvironment
    app.jinja_loader = ChoiceLoader([
        FileSystemLoader(str(BASE_DIR / "templates")),
        PrefixLoader({"partials": FileSystemLoader(str(BASE_DIR / "partials"))}),
    ])
    app.jinja_env.undefined = StrictUndefined
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    db.init_app(app)
    read_only_requests.register(app)  # a GET that wrote nothing commits: psycopg keeps its prepared statements
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True,
                     compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)

    languages.register(app)  # Flask-Babel, before anything renders
    register_template_helpers(app)
    static_files.register(app)  # asset(), and WhiteNoise in front of the app
    url_ids.register(app)  # before the blueprints' routes
    app.register_blueprint(site.bp)
    offline.register(app)
    app.register_blueprint(races.bp)
    errors.register(app)
    auth.register(app)
    manage.register(app)
    cart_runners.register(app)  # the cart blueprint with its runner routes
    app.register_blueprint(cart_account.bp)
    app.register_blueprint(checkout.bp)
    app.register_blueprint(tickets.bp)
    app.register_blueprint(ticket_changes.bp)
    runner_invites.register(app)
    waitlist.register(app)
    app.register_blueprint(unsubscribe.bp)
    webhooks.register(app)
    api.register(app)
    security.register_cookieless_forms(app)  # needs the views above

    @app.context_processor
    def site_context():
        return {
            "site_name": app.config["SITE_NAME"],
            "site_social_links": app.config["SITE_SOCIAL_LINKS"],
        }

    cli.register(app)
    if app.config["MAIL_WORKER_IN_PROCESS"]:
        start_worker_thread(app)
    return app
