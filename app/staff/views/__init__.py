"""The foundation's console pages: sign-in and out, the home page; importing them attaches their routes to ``bp``."""

from app.staff.views import auth, home, jobs  # noqa: F401
