"""Request plumbing: login by default, first-start setup, security headers."""

from __future__ import annotations

import zlib

from flask import current_app, redirect, request, url_for
from flask_babel import get_locale
from flask_login import current_user

from core.extensions import login_manager
from models.account import ROLE_LABELS, Role, User, any_user_exists
from models.base import db


def public(view):
    """Mark a view as reachable without logging in."""
    view.is_public = True
    return view


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Load the session's user if its password generation still matches."""
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version) or not user.active:
        return None
    return user


def require_login_or_setup():
    """Send visitors to setup on a fresh install, and to login everywhere else."""
    endpoint = request.endpoint
    if endpoint is None:  # 404s and 405s are answered by the error handlers
        return None
    view = current_app.view_functions.get(endpoint)
    if endpoint == "static" or getattr(view, "is_public", False):
        return None
    if not any_user_exists():
        return redirect(url_for("auth.setup"))
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return refuse_viewer_changes(endpoint, view)


# Endpoints a viewer may POST to: their own session and profile.
VIEWER_MAY_POST = frozenset({"auth.logout", "account.password", "account.preferences"})


def refuse_viewer_changes(endpoint: str, view):
    """Let viewers look but not change: refuse their non-GET requests by default."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if current_user.role_enum.can_edit or endpoint in VIEWER_MAY_POST:
        return None
    from flask import abort

    abort(403)


def add_security_headers(response):
    """Set headers that keep pages out of frames and sniffing."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # Fragments and full pages share URLs; caches must keep them apart.
    response.vary.add("HX-Request")
    return response


def template_globals() -> dict:
    """Expose roles and the user's permissions to every template."""
    can_edit = current_user.is_authenticated and current_user.role_enum.can_edit
    can_admin = current_user.is_authenticated and current_user.role_enum.can_manage_users
    return {"Role": Role, "role_labels": ROLE_LABELS, "get_locale": get_locale,
            "can_edit": can_edit, "can_admin": can_admin}


def hue(text: str) -> int:
    """Derive a stable colour hue (0-359) from a text, for service letter marks."""
    return zlib.crc32(text.encode()) % 360


def init_web(app) -> None:
    """Install the request hooks on the app."""
    app.jinja_env.filters["hue"] = hue
    app.before_request(require_login_or_setup)
    app.after_request(add_security_headers)
    app.context_processor(template_globals)
    login_manager.login_message_category = "warning"


@login_manager.unauthorized_handler
def unauthorized():
    """Send anonymous visitors to login; HTMX gets a full-page redirect header."""
    from flask import make_response

    target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    if request.headers.get("HX-Request"):
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    if request.path.startswith("/api/"):
        return {"ok": False, "error": "login required"}, 401
    return redirect(target)


def safe_next_url(target: str | None) -> str | None:
    """Accept only a local path as a redirect target after login."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    return target
