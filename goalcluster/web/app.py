"""The routes of ``goalcluster serve``: pages over one chat thread, and forms that send the chat
the same slash commands a user would type (so each edit is the chat's typed action, re-verified
and checkpointed). One lock serialises the thread: the chat is one conversation. A long action
(``/cluster GOAL``, ``/discover``) runs as a background job instead (:mod:`goalcluster.web.jobs`):
its progress streams to the page, it can be cancelled, and no other turn starts until it ends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from goalcluster.chat.actions import Export, Why
from goalcluster.chat.edits import export, thread_reports
from goalcluster.chat.graph import Chat
from goalcluster.chat.session import ChatError
from goalcluster.chat.state import ChatState
from goalcluster.chat.views import why
from goalcluster.report.html import color
from goalcluster.results import precision_recall
from goalcluster.web import pages, taxonomy
from goalcluster.web.jobs import Jobs, event_stream, is_long
from goalcluster.web.security import HEADERS, Guard
from tools.files import DamagedFileError

T = TypeVar("T")
MAX_BODY = 64 * 1024
DOWNLOADS = {
    "report.html": "text/html; charset=utf-8",
    "report.md": "text/markdown; charset=utf-8",
    "assignments.csv": "text/csv; charset=utf-8",
    "assignments.jsonl": "application/x-ndjson",
}

_env = Environment(
    loader=PackageLoader("goalcluster.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(color=color, figures=precision_recall, node_href=taxonomy.node_href)


class WebChat:
    """The thread the pages show, its long actions, the guard's rules, and a note for the next page."""

    def __init__(self, chat: Chat, guard: Guard) -> None:
        self.chat, self.guard, self.notice = chat, guard, ""
        self.jobs = Jobs(chat)
        self._lock = threading.Lock()
        self._page: dict[str, Any] = {}
        self._page_turns = -1
        if not self.chat.state().seeded and chat.session.base_run is not None:
            self.chat.send("/clusters")  # the first turn takes the run folder's clustering

    def overview(self) -> dict[str, Any]:
        """The main page's variables (with the Tree section of a tree run), computed again only when
        the thread has had a turn since (the thread folder is claimed, so only this server changes it)."""
        state, session = self.chat.state(), self.chat.session
        if self._page_turns != len(state.messages):
            self._page = {**pages.overview(state, session), "tree": taxonomy.tree_section(state, session)}
            self._page_turns = len(state.messages)
        return self._page

    def locked(self, work: Callable[[], T]) -> T:
        with self._lock:
            return work()

    def turn(self, text: str) -> ChatState | None:
        """Send ``text`` to the chat (with the lock held); a long action starts as a background job
        and None comes back at once. :class:`ChatError` while a job runs: the thread is the job's
        until it ends."""
        self.jobs.check_idle()
        if is_long(text, self.chat.state()):
            self.jobs.start(text)
            return None
        return self.chat.send(text)

    def render(self, name: str, status: int = 200, **variables: Any) -> HTMLResponse:
        notice, self.notice = self.notice, ""
        html = _env.get_template(name).render(csrf=self.guard.csrf, notice=notice, **variables)
        return HTMLResponse(html, status_code=status, headers=HEADERS)  # also on pages the guard skips

    async def form(self, request: Request) -> dict[str, str]:
        """The POST body's fields (urlencoded); 403 without this server's CSRF token."""
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(413, "The form is too large.")
        fields = {
            k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
        }
        if not self.guard.csrf_ok(fields.get("csrf")):
            raise HTTPException(403, "Forbidden: the form's CSRF token is missing or stale; reload the page.")
        return fields

    def close(self) -> None:
        self.jobs.close()
        self.chat.close()


def build_app(chat: Chat, *, host: str = "127.0.0.1", token: str | None = None) -> Starlette:
    """The ASGI app over ``chat``'s thread; :class:`ServeError` for a non-loopback host without a token."""
    web = WebChat(chat, Guard(host=host, token=token))

    async def index(request: Request) -> Response:
        page = await run_in_threadpool(web.locked, web.overview)
        job = web.jobs.current
        return web.render("index.html.j2", **page, edits=pages.EDITS, job=job.view() if job else None)

    async def cluster(request: Request) -> Response:
        cid, q, page = request.path_params["cid"], request.query_params.get("q", ""), _page_number(request)
        try:
            found = await run_in_threadpool(
                web.locked, lambda: pages.members(web.chat.state(), web.chat.session, cid, page, q)
            )
        except ChatError as error:
            return web.render("message.html.j2", 404, title="No such cluster", message=str(error))
        return web.render("cluster.html.j2", m=found)

    async def node(request: Request) -> Response:
        nid, q, page = request.path_params["nid"], request.query_params.get("q", ""), _page_number(request)
        try:
            found = await run_in_threadpool(
                web.locked, lambda: taxonomy.node_page(web.chat.state(), web.chat.session, nid, page, q)
            )
        except ChatError as error:
            return web.render("message.html.j2", 404, title="No such cluster in the tree", message=str(error))
        except DamagedFileError as error:
            return web.render("message.html.j2", 500, title="The run's files are damaged", message=str(error))
        return web.render("node.html.j2", n=found)

    async def why_page(request: Request) -> Response:
        doc = request.query_params.get("doc", "")
        try:
            _, reply = await run_in_threadpool(
                web.locked, lambda: why(Why(document=doc), web.chat.state(), web.chat.session)
            )
        except ChatError as error:
            return web.render("message.html.j2", 404, title="No such document", message=str(error))
        return web.render("message.html.j2", title=f"Why {doc} is where it is", message=reply)

    async def edit(request: Request) -> Response:
        form = await web.form(request)
        try:
            line, _ = pages.edit_command(form)
            state = await run_in_threadpool(web.locked, lambda: web.turn(line))
        except ChatError as error:
            web.notice = f"Cannot do that: {error}"
            return RedirectResponse("./", status_code=303)
        web.notice = state.reply if state else ""
        back = form.get("back", "")
        return RedirectResponse(back if back.startswith("cluster/") else "./", status_code=303)

    async def chat_post(request: Request) -> Response:
        text = (await web.form(request)).get("text", "").strip()
        if not text:
            return RedirectResponse("./#chat", status_code=303)
        try:
            state = await run_in_threadpool(web.locked, lambda: web.turn(text))
        except ChatError as error:
            web.notice = f"Cannot do that now: {error}"
            return RedirectResponse("./#progress", status_code=303)
        return RedirectResponse("./#chat" if state else "./#progress", status_code=303)

    async def cancel(request: Request) -> Response:
        await web.form(request)
        if not web.jobs.cancel():
            web.notice = "Nothing is running to cancel."
        return RedirectResponse("./#progress", status_code=303)

    async def progress(request: Request) -> Response:
        """The running (or last) job's progress as server-sent events, from the line after the one
        the page (``?after=``) or the browser's reconnection (``Last-Event-ID``) has."""
        seen = request.headers.get("last-event-id") or request.query_params.get("after", "")
        after = int(seen) if seen.isdigit() else 0
        return StreamingResponse(event_stream(web.jobs.current, after), media_type="text/event-stream")

    async def download(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in DOWNLOADS:
            raise HTTPException(404, "No such download.")
        try:
            path = await run_in_threadpool(web.locked, lambda: _written(web.chat, name))
        except ChatError as error:
            return web.render("message.html.j2", 409, title="Nothing to download yet", message=str(error))
        return FileResponse(path, media_type=DOWNLOADS[name], filename=name)

    async def error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return web.render("message.html.j2", exc.status_code, title="Refused", message=exc.detail)
        return web.render(
            "message.html.j2", 500, title="Something went wrong", message="The server could not do that "
            "(see its terminal). The thread is as it was after its last finished turn.",
        )  # fmt: skip

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/cluster/{cid}", cluster),
            Route("/node/{nid}", node),
            Route("/why", why_page),
            Route("/edit", edit, methods=["POST"]),
            Route("/chat", chat_post, methods=["POST"]),
            Route("/cancel", cancel, methods=["POST"]),
            Route("/progress", progress),
            Route("/download/{name}", download),
            Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=web.guard)],
        exception_handlers={HTTPException: error, Exception: error},
    )
    app.state.web = web
    return app


def _page_number(request: Request) -> int:
    """The ``page`` asked for (1 when absent or not a number)."""
    try:
        return int(request.query_params.get("page", "1"))
    except ValueError:
        return 1


def _written(chat: Chat, name: str) -> Path:
    """Write the thread's current folder (and the file asked for) as /report and /export do."""
    state, session = chat.state(), chat.session
    if not state.clusters:
        raise ChatError("there is no clustering yet; ask for one first (/cluster GOAL)")
    folder = pages.write_folder(state, session)
    if name.startswith("report."):
        thread_reports(state, folder)
    elif name == "assignments.csv":
        export(Export(path=str(folder / name), overwrite=True), state, session)
    return folder / name
