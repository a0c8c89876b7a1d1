"""Language and time zone choice for each request."""

from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_login import current_user


def select_locale() -> str | None:
    """Use the user's language, else the best match from the browser."""
    if not has_request_context():  # jobs and CLI: the default language
        return None
    languages = current_app.config["LANGUAGES"]
    if current_user and current_user.is_authenticated:
        if current_user.language in languages:
            return current_user.language
        if current_user.account.language in languages:
            return current_user.account.language
    return request.accept_languages.best_match(languages)


def select_timezone() -> str | None:
    """Show times in the account's time zone."""
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user.account.timezone
    return None
