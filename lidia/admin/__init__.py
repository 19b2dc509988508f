"""The calls dashboard at `/admin`: who called, what they said, their message, the audio.

`install_admin(app, settings)` adds the pages, the static files and the "disabled" page
(shown, with a 503, while `ADMIN_PASSWORD` is unset) to the phone service's app. The app's
lifespan must set `app.state.phone` (a `lidia.phone.context.PhoneContext`).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from lidia.admin.security import AdminAuth, AdminDisabled, install_admin_guard
from lidia.admin.views import ADMIN_DIR, router, templates
from lidia.core.settings import Settings

__all__ = ["AdminAuth", "install_admin"]


def install_admin(app: FastAPI, settings: Settings) -> None:
    app.state.admin_auth = AdminAuth.from_settings(settings)
    # Security headers and backoff for guessed passwords, on every /admin response.
    install_admin_guard(app, settings)
    app.state.admin_timezone = settings.timezone  # TIMEZONE: the zone times are shown in
    app.include_router(router)
    app.mount(
        "/admin/static",
        StaticFiles(directory=ADMIN_DIR / "static" / "admin"),
        name="admin-static",
    )

    @app.exception_handler(AdminDisabled)
    async def admin_disabled(request: Request, _exc: AdminDisabled) -> HTMLResponse:
        return templates.TemplateResponse(request, "admin/disabled.html", {}, status_code=503)
