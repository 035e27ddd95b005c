"""Who may use the room. It listens on loopback by default; on any other address only
with an access token (ZIPX_ROOM_TOKEN), asked of every request: as `Authorization:
Bearer`, or a cookie set by the login form (the token itself is never in a URL, so
never in an access log). Forms posted from another site are refused either way, and
without a token only loopback host names are answered (a DNS-rebinding page cannot
reach the room under its own name)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlparse

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse

COOKIE = "zipx_room"
OPEN_PATHS = ("/login", "/static/")


class RoomRefused(RuntimeError):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise RoomRefused(f"the review room will not listen on {host} without an access token: set ZIPX_ROOM_TOKEN "
                          "(or keep the default, 127.0.0.1)")


def cookie_value(token: str) -> str:
    """What the login cookie holds: a digest of the token, not the token."""
    return hashlib.sha256(b"zipx-room:" + token.encode()).hexdigest()


def token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


class Guard(BaseHTTPMiddleware):
    def __init__(self, app, token: str | None):
        super().__init__(app)
        self.token = token

    def _signed_in(self, request: Request) -> bool:
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer ") and token_matches(bearer[7:].strip(), self.token):
            return True
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), cookie_value(self.token).encode())

    async def dispatch(self, request: Request, call_next):
        if not self.token and not is_loopback(request.url.hostname or ""):
            return PlainTextResponse("refused: this room answers loopback names only (127.0.0.1, localhost)", status_code=403)
        if request.method == "POST" and _cross_site(request):
            return PlainTextResponse("refused: a form posted from another site", status_code=403)
        if self.token and not request.url.path.startswith(OPEN_PATHS) and not self._signed_in(request):
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                return RedirectResponse("/login", status_code=303)
            return PlainTextResponse("an access token is needed", status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)


def _cross_site(request: Request) -> bool:
    """A browser names the page a form came from: refuse any other site's (CSRF)."""
    origin = request.headers.get("origin")
    if origin and (origin == "null" or urlparse(origin).netloc != request.headers.get("host")):
        return True
    return request.headers.get("sec-fetch-site") == "cross-site"
