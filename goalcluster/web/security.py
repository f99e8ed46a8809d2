"""The server's safety rules, kept apart from the routes: loopback unless a token is given, the
token (once in the URL, then an HttpOnly cookie), a per-server CSRF token plus a same-origin check
on every POST, and headers that forbid scripts from elsewhere, framing and content sniffing."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from goalcluster.web import ServeError

COOKIE = "goalcluster_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise ServeError(
            f"--host {host} would let other machines drive this chat with no password: add "
            "--token SECRET (then open the printed URL, which carries it once), or leave out --host "
            "to listen on 127.0.0.1 only"
        )


def same_token(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass
class Guard:
    """The rules for one server: its host, its optional token, its CSRF token."""

    host: str = "127.0.0.1"
    token: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def __post_init__(self) -> None:
        check_host(self.host, self.token)

    def csrf_ok(self, given: str | None) -> bool:
        return same_token(given, self.csrf)

    def refusal(self, request: Request) -> Response | None:
        """A 4xx response if the request breaks a rule, else None."""
        name = (request.url.hostname or "").lower()
        if not self.token and not is_loopback(name):
            # Without a token only loopback names are served: a page elsewhere cannot rebind a
            # name of its own to 127.0.0.1 and read the chat.
            return PlainTextResponse("Forbidden: unexpected Host header.", status_code=403)
        if (
            self.token
            and not same_token(request.cookies.get(COOKIE), self.token)
            and not same_token(request.query_params.get("token"), self.token)
        ):
            return PlainTextResponse(
                "Unauthorized: open the URL the server printed (it carries ?token=).", status_code=401
            )
        if request.method == "POST" and not self.same_origin(request):
            return PlainTextResponse("Forbidden: cross-site request.", status_code=403)
        return None

    def same_origin(self, request: Request) -> bool:
        """An Origin (or, without one, a Referer) sent with the request must be this server's."""
        own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
        origin = request.headers.get("origin")
        if origin is not None:
            return origin.lower() == own
        referer = request.headers.get("referer")
        return referer is None or _origin(referer) == own

    async def __call__(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        refused = self.refusal(request)
        if refused is not None:
            response = refused
        elif self.token and "token" in request.query_params:
            # Trade the token in the URL for a cookie, and drop it from the address bar.
            parts = urlsplit(str(request.url))
            query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            response = RedirectResponse(urlunsplit(("", "", parts.path, query, "")), status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
        else:
            response = await call_next(request)
        response.headers.update(HEADERS)
        return response
