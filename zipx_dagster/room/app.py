"""The review room's web app (Starlette and Jinja2, which come with dagster-webserver).

It reads the manifests and the artifact store the runs use, records decisions through
zipx_core (the cast sheet's import, the review record, a still's approval), and launches the
materialization each decision needs through the Dagster webserver's GraphQL API. Media
come from the store: streamed with Range support from a local store, or a redirect to a
presigned URL on S3."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, quote, unquote, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from zipx_core import room_data
from zipx_core.manifests import ManifestError, ManifestReader
from zipx_core.qa.review import load_decisions
from zipx_core.room_data import RoomError
from zipx_core.storage import URI_PREFIX, StorageError, uri_key
from zipx_core.storyboard.replans import current_ids
from zipx_dagster.room.security import COOKIE, Guard, check_bind, cookie_value, token_matches

HERE = Path(__file__).parent
log = logging.getLogger("zipx.room")
REVIEWER_COOKIE = "zipx_reviewer"
REVIEW_DECISIONS = "review_decisions"  # the external asset (zipx_dagster.assets.decisions) a decision reports
# what <video>, <audio>, <track> and a download need; anything else is a plain download
MEDIA_TYPES = {".mp4": "video/mp4", ".m4a": "audio/mp4", ".mp3": "audio/mpeg", ".wav": "audio/wav", ".png": "image/png",
               ".jpg": "image/jpeg", ".vtt": "text/vtt", ".srt": "application/x-subrip", ".otio": "application/json",
               ".xml": "application/xml", ".edl": "text/plain", ".zip": "application/zip"}
SAME_ORIGIN_ONLY = (".vtt",)  # a <track> from another origin needs CORS: served through the room even from S3


class Launcher(Protocol):
    def launch(self, assets: list[str], partition: str, tags: dict[str, str]) -> str: ...
    def report(self, asset: str, partition: str, description: str) -> None: ...
    def run_url(self, run_id: str) -> str: ...


@dataclass
class Room:
    reader: ManifestReader
    store: object  # LocalArtifactStore or S3ArtifactStore
    launcher: Launcher
    budget_episode_usd: float | None = None
    budget_drama_usd: float | None = None

    def launch(self, assets: list[str], partition: str, tags: dict[str, str]) -> dict[str, str]:
        """The query string that tells the next page what happened to the launch."""
        try:
            return {"launched": self.launcher.launch(assets, partition, tags)}
        except Exception as error:  # the decision is recorded either way; the page says the run was not launched
            log.warning("launching %s for %s failed: %s", assets, partition, error)
            return {"launch_error": str(error)[:300]}

    def report(self, asset: str, partition: str, description: str) -> None:
        """A runless materialization of `asset`, so the lineage shows what a person wrote; the
        record on the store is the truth, so a report that fails is only logged."""
        try:
            self.launcher.report(asset, partition, description)
        except Exception as error:
            log.warning("reporting %s for %s failed: %s", asset, partition, error)


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["media"] = lambda uri: "/media/" + uri_key(uri) if uri else ""
templates.env.filters["suffix"] = lambda uri: Path(uri).suffix
templates.env.filters["usd"] = lambda value: "—" if value is None else f"${value:,.2f}"


def _room(request: Request) -> Room:
    return request.app.state.room


def _page(request: Request, name: str, status: int = 200, **context) -> Response:
    room = _room(request)
    notice = {k: request.query_params.get(k) for k in ("launched", "launch_error", "done", "error")}
    if notice["launched"]:
        notice["run_url"] = room.launcher.run_url(notice["launched"])
    return templates.TemplateResponse(request, name, {"notice": notice, **context}, status_code=status)


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form (what the pages post), without python-multipart."""
    body = (await request.body()).decode("utf-8", "replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}


def _back(path: str, anchor: str = "", **query) -> RedirectResponse:
    query = {k: v for k, v in query.items() if v}
    return RedirectResponse(path + (f"?{urlencode(query)}" if query else "") + (f"#{anchor}" if anchor else ""), 303)


# --- pages --------------------------------------------------------------------------------


def index(request: Request) -> Response:
    room, dramas = _room(request), []
    for drama in room.reader.dramas():
        script = room.reader.load("drama_script", drama)
        episodes = [(e, sum(i["outcome"].status == "review" for i in room_data.review_items(room.reader, room.store, drama, e)))
                    for e in room.reader.episodes(drama)]
        dramas.append({"key": drama, "title": script.title if script else drama, "episodes": episodes})
    return _page(request, "index.html", dramas=dramas)


def drama_page(request: Request) -> Response:
    room, drama = _room(request), request.path_params["drama"]
    script = room.reader.load("drama_script", drama)
    if script is None:
        raise HTTPException(404, f"no drama {drama!r} here")
    cast = room_data.cast_sheet(room.reader, room.store, drama)
    ledger = room_data.ledger(room.store, drama, room.budget_episode_usd, room.budget_drama_usd)
    return _page(request, "drama.html", drama=drama, script=script, cast=cast, ledger=ledger,
                 episodes=room.reader.episodes(drama), reviewer=unquote(request.cookies.get(REVIEWER_COOKIE, "")))


def episode_page(request: Request) -> Response:
    room, drama, episode = _room(request), request.path_params["drama"], request.path_params["episode"]
    manifest = room.reader.load("episode", drama, episode)
    board = room.reader.load("storyboard", drama, episode)
    if board is None:
        raise HTTPException(404, f"no episode {drama} {episode} here")
    ledger = room_data.ledger(room.store, drama, room.budget_episode_usd, room.budget_drama_usd)
    return _page(request, "episode.html", drama=drama, episode=episode, manifest=manifest, board=board, ledger=ledger,
                 spent=ledger["episodes"].get(episode, {"spent": 0.0, "left": room.budget_episode_usd}))


def storyboard_page(request: Request) -> Response:
    room, drama, episode = _room(request), request.path_params["drama"], request.path_params["episode"]
    filters = {k: request.query_params.get(k, "") for k in ("type", "who", "route", "verdict")}
    grid = room_data.storyboard_grid(room.reader, drama, episode, filters)
    return _page(request, "storyboard.html", drama=drama, episode=episode, filters=filters, **grid)


def review_page(request: Request) -> Response:
    room, params = _room(request), request.path_params
    pairs = [(params["drama"], params["episode"])] if "drama" in params else \
        [(d, e) for d in room.reader.dramas() for e in room.reader.episodes(d)]
    items = [item for d, e in pairs for item in room_data.review_items(room.reader, room.store, d, e)]
    reviewer = unquote(request.cookies.get(REVIEWER_COOKIE, ""))
    return _page(request, "review.html", items=items, reviewer=reviewer, scope=params)


def shot_link(request: Request) -> Response:
    """A shot's own address: its card in the review queue (awaiting review or decided), else
    its frame on the storyboard. An id a re-plan retired redirects to the shot's id now, so a
    link kept from before the re-plan still finds the shot."""
    room, params = _room(request), request.path_params
    drama, episode, shot = params["drama"], params["episode"], params["shot"]
    board = room.reader.load("storyboard", drama, episode)
    if board is None:
        raise HTTPException(404, f"no episode {drama} {episode} here")
    if shot not in {s.shot_id for s in board.shots}:
        now = renamed_as(room, drama, episode, shot)
        if not now:
            raise HTTPException(404, f"no shot {shot} in {drama} {episode}")
        done = f"{shot} was re-planned as {', '.join(now)}"
        # temporary: a later re-plan may rename the shot again
        return RedirectResponse(f"/drama/{drama}/{episode}/shot/{quote(now[0])}?{urlencode({'done': done})}", 307)
    report = room.reader.load("approved_frames", drama, episode)
    waiting = bool(report) and any(o.shot_id == shot and o.status == "review" for o in report.outcomes)
    page = "review" if waiting or shot in load_decisions(room.store, drama, episode) else "storyboard"
    return _back(f"/drama/{drama}/{episode}/{page}", shot, done=request.query_params.get("done", ""))


def renamed_as(room: Room, drama: str, episode: str, shot: str) -> list[str]:
    """The ids a re-plan gave the shot that the storyboard has now; [] if it was never renamed."""
    board = room.reader.load("storyboard", drama, episode)
    planned = {s.shot_id for s in board.shots} if board else set()
    return [i for i in current_ids(room.store, drama, episode, shot) if i != shot and i in planned]


# --- decisions ----------------------------------------------------------------------------


async def review_post(request: Request) -> Response:
    """Records a reviewer's decision (who, when, why), reports it as a `review_decisions`
    materialization, then launches approved_frames and episode for the pair: the next
    materialization applies it."""
    room, params, form = _room(request), request.path_params, await _form(request)
    drama, episode, shot = params["drama"], params["episode"], params["shot"]
    back = f"/drama/{drama}/{episode}/review"
    try:
        decision = await run_in_threadpool(room_data.decide, room.reader, room.store, drama, episode, shot,
                                           form.get("decision", ""), form.get("reviewer", ""), form.get("note", ""))
    except RoomError as error:
        now = renamed_as(room, drama, episode, shot)  # a page from before a re-plan: say where the shot went
        if now:
            error = RoomError(f"{shot} was re-planned as {', '.join(now)}: decide on the shot as it is now")
        return _back(back, now[0] if now else shot, error=str(error))
    partition = f"{drama}|{episode}"  # the drama_episode_partitions key (dimensions in name order)
    said = f"{decision.decision} {shot} by {decision.reviewer} in the review room" + (f": {decision.note}" if decision.note else "")
    await run_in_threadpool(room.report, REVIEW_DECISIONS, partition, said)
    tags = {"zipx/review": f"{decision.decision} {shot}", "zipx/reviewer": decision.reviewer[:100]}
    outcome = await run_in_threadpool(room.launch, room_data.DECISION_ASSETS, partition, tags)
    response = _back(back, shot, done=f"{decision.decision} {shot} recorded for {decision.reviewer}", **outcome)
    response.set_cookie(REVIEWER_COOKIE, quote(decision.reviewer), samesite="strict", max_age=30 * 86400)
    return response


async def cast_post(request: Request) -> Response:
    """approve | release | reroll | edit one character (or place) of the cast sheet, then
    re-materializes the drama's bibles and reference stills."""
    room, params, form = _room(request), request.path_params, await _form(request)
    drama, entity, action = params["drama"], params["entity"], form.get("action", "")
    try:
        if action == "reroll":
            roll = await run_in_threadpool(room_data.reroll, room.reader, room.store, drama, entity)
            done = f"{entity}: stills re-rolled (roll {roll})"
        else:
            summary = await run_in_threadpool(room_data.edit_cast, room.reader, room.store, drama, entity, action, form)
            if not (summary["changed"] or summary["approved"]):
                return _back(f"/drama/{drama}", entity, done=f"{entity}: nothing changed")
            done = f"{entity}: " + "; ".join([*(f"{k} {', '.join(v)}" for k, v in summary["changed"].items()),
                                              *(("approved" if yes else "approval released") for yes in summary["approved"].values())])
    except RoomError as error:
        return _back(f"/drama/{drama}", entity, error=str(error))
    outcome = await run_in_threadpool(room.launch, room_data.DRAMA_ASSETS, drama, {"zipx/cast": f"{action} {entity}"})
    return _back(f"/drama/{drama}", entity, done=done, **outcome)


async def still_post(request: Request) -> Response:
    """A person's choice of one candidate of a still slot (as `zipx stills approve` records
    it, with their name), then launches reference_frames for the drama, which locks it."""
    room, drama, form = _room(request), request.path_params["drama"], await _form(request)
    by = (form.get("reviewer", "").strip() or unquote(request.cookies.get(REVIEWER_COOKIE, ""))).strip()
    slot_id, _, uri = form.get("pick", "").partition("|")  # the button pressed: "slot|candidate uri"
    try:
        slot, uri = await run_in_threadpool(room_data.approve_candidate, room.reader, room.store, drama, slot_id, uri, by)
    except RoomError as error:
        return _back(f"/drama/{drama}", slot_id.split("/", 1)[0], error=str(error))  # back to the slot's card
    number = slot.candidates.index(uri) + 1
    tags = {"zipx/stills": f"approve {slot.slot} #{number}"[:200], "zipx/reviewer": by[:100]}
    outcome = await run_in_threadpool(room.launch, room_data.STILL_ASSETS, drama, tags)
    done = f"{slot.slot}: candidate {number} chosen by {by}; the reference_frames run locks it"
    response = _back(f"/drama/{drama}", slot.entity, done=done, **outcome)
    response.set_cookie(REVIEWER_COOKIE, quote(by), samesite="strict", max_age=30 * 86400)
    return response


# --- media from the store -------------------------------------------------------------------


def media(request: Request) -> Response:
    """An artifact by its store key: only keys of the store's own form (kind/aa/sha256.ext),
    so no path outside the store can be named."""
    room, key = _room(request), request.path_params["key"]
    uri = URI_PREFIX + key
    try:
        uri_key(uri)
    except StorageError:
        raise HTTPException(404, "no such artifact") from None
    suffix = Path(key).suffix
    presign = getattr(room.store, "presigned_url", None)
    if presign and suffix not in SAME_ORIGIN_ONLY:
        return RedirectResponse(presign(uri), status_code=307)
    try:
        path = room.store.path(uri)  # on S3: the checked local copy
    except StorageError:
        raise HTTPException(404, "no such artifact") from None
    if not path.is_file():
        raise HTTPException(404, "no such artifact")
    name = request.query_params.get("download")
    safe = name if name and all(c.isalnum() or c in "._-" for c in name) else None
    return FileResponse(path, media_type=MEDIA_TYPES.get(suffix, "application/octet-stream"), filename=safe,
                        content_disposition_type="attachment" if safe else "inline")


# --- signing in (only when a token is set) --------------------------------------------------


async def login(request: Request) -> Response:
    token = request.app.state.token
    if request.method == "GET" or not token:
        return templates.TemplateResponse(request, "login.html", {"notice": {}, "wrong": False, "needed": bool(token)})
    if not token_matches((await _form(request)).get("token", ""), token):
        return templates.TemplateResponse(request, "login.html", {"notice": {}, "wrong": True, "needed": True}, status_code=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="strict", max_age=7 * 86400)
    return response


async def _error(request: Request, error: Exception) -> Response:
    status = getattr(error, "status_code", 500 if isinstance(error, ManifestError) else 400)
    detail = getattr(error, "detail", None) or str(error)
    if isinstance(error, ManifestError) and "not a manifest name" in detail:
        status, detail = 404, "no such page"
    return templates.TemplateResponse(request, "error.html", {"notice": {}, "status": status, "detail": detail}, status_code=status)


def create_app(room: Room, host: str = "127.0.0.1", token: str | None = None) -> Starlette:
    """The room for a bind address: anything but loopback needs a token (RoomRefused otherwise)."""
    check_bind(host, token)
    routes = [
        Route("/", index),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/review", review_page),
        Route("/media/{key:path}", media),
        Route("/drama/{drama}", drama_page),
        Route("/drama/{drama}/cast/{entity}", cast_post, methods=["POST"]),
        Route("/drama/{drama}/stills", still_post, methods=["POST"]),
        Route("/drama/{drama}/{episode}", episode_page),
        Route("/drama/{drama}/{episode}/storyboard", storyboard_page),
        Route("/drama/{drama}/{episode}/review", review_page),
        Route("/drama/{drama}/{episode}/review/{shot}", review_post, methods=["POST"]),
        Route("/drama/{drama}/{episode}/shot/{shot}", shot_link),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    handlers = {HTTPException: _error, RoomError: _error, ManifestError: _error}
    app = Starlette(routes=routes, middleware=[Middleware(Guard, token=token)], exception_handlers=handlers)
    app.state.room, app.state.token = room, token
    return app
