"""A self-hosted blog engine: the application factory.

Importing the package is cheap: the factory imports Flask and the app's modules when it runs,
so `blog.preflight` can be used by gunicorn's master-side hooks without loading the app.
"""

from __future__ import annotations

import calendar
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict | None = None, *, cli: bool = True) -> Flask:
    """Build the app: configuration, extensions, blueprints, request hooks, error pages, CLI.

    `cli=False` builds the app a WSGI server runs (gunicorn.conf.py asks for it): without the
    command-line commands and Flask-Migrate, whose imports cost a worker about 9 MB and 0.4 s.
    """
    from flask import Flask

    from . import comment_guard, http_caching, page_cache
    from .config import REPO_ROOT, instance_path, load_config

    instance = (
        Path(test_config["INSTANCE_PATH"])
        if test_config and "INSTANCE_PATH" in test_config
        else instance_path()
    )
    app = Flask(
        __name__,
        instance_path=str(instance),
        instance_relative_config=True,
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(REPO_ROOT / "static"),
    )
    instance.mkdir(parents=True, exist_ok=True)
    load_config(app, test_config)
    configure_logging(app)
    configure_proxy(app)
    configure_extensions(app, migrations=cli)
    configure_blueprints(app)
    configure_templates(app)
    page_cache.init_app(app)  # the stores, and the fast path in front of Flask
    http_caching.init_app(app)  # fingerprinted static URLs; no Date of its own (the server adds it)
    comment_guard.init_app(app)  # outermost: a fresh form token in every page that has a form
    configure_request_hooks(app)
    configure_errorhandlers(app)
    if cli:
        configure_cli(app)
    return app


def configure_logging(app: Flask) -> None:
    """One handler on the root logger for the app, Alembic and the server, unless one exists.

    Under gunicorn or pytest the host's logging is kept; the app's records propagate to it.
    """
    from flask.logging import default_handler

    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.logger.removeHandler(default_handler)
    app.logger.setLevel(app.config.get("LOG_LEVEL", logging.INFO))


def configure_proxy(app: Flask) -> None:
    """Trust X-Forwarded-* only from the number of proxies the operator configured (0: none)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    proxies = int(app.config.get("PROXY_COUNT", 0))
    if proxies:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )


def configure_extensions(app: Flask, migrations: bool) -> None:
    from . import database, mail
    from .extensions import csrf, login_manager

    database.init_app(app, migrations=migrations)
    mail.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"


def configure_blueprints(app: Flask) -> None:
    from . import admin, auth, public
    from .design.views import bp as design_bp
    from .federation import views as federation_views

    public.register(app)
    federation_views.register(app)  # WebFinger, NodeInfo, the inbox, outboxes (machine-facing)
    app.register_blueprint(design_bp)  # the design stylesheet and /favicon.ico
    auth.register(app)
    admin.register(app)  # at /admin


def configure_templates(app: Flask) -> None:
    from . import design, media
    from .comments import pending_count as pending_comments
    from .newsletter import sending as newsletter_sending
    from .public import comments, queries
    from .settings import site_settings_for_templates

    app.context_processor(lambda: {"site": site_settings_for_templates()})
    app.jinja_env.globals.update(
        navigation=queries.navigation,
        banner_media=queries.banner_media,
        design=design.for_templates,
        comment_section=comments.section,
        newsletter_offered=newsletter_sending.offered,
        pending_comments=pending_comments,
        month_name=lambda number: calendar.month_name[number],
    )
    media.init_app(app)


def configure_request_hooks(app: Flask) -> None:
    """What every request passes through, in order: see `blog.request_hooks`."""
    from . import request_hooks

    request_hooks.init_app(app)


def configure_errorhandlers(app: Flask) -> None:
    from . import errors

    errors.init_app(app)


def configure_cli(app: Flask) -> None:
    from . import cli

    cli.init_app(app)
