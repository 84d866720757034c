"""Server-rendered pages for caseworkers, agency staff, supervisors and administrators (Vietnamese first,
English too).

``router`` is a FastAPI router under ``/app``; the app includes it. The pages call the same service
functions as the API and keep no business rule of their own.
"""

from api.pages.routes import PREFIX, router

__all__ = ["PREFIX", "router"]
