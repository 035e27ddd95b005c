"""The review room end to end, as a reviewer uses it: `python -m zipx_dagster.serve` (as
`make dev` starts it: webserver, daemon and the room) over a fresh home; a small drama
made by the real jobs with black frames injected, so its shots await review; then
Debian's headless Chromium (Playwright, as tests/ui/test_browser.py drives it) on the
room: the cast sheet (a still candidate approved, its reference_frames run locking it),
the storyboard grid, a shot approved and another regenerated
with a note from the page (each decision launching its run through the webserver's
GraphQL API, the next materialization showing it), and the episode playing with its
subtitles. Then the room beyond loopback: on this machine's network address it will not
start without an access token, and with one Chromium gets the sign-in form (a wrong token:
401) until it signs in. Screenshots go to test-artifacts/room/."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import httpx
import pytest

from tests.conftest import REPO
from tests.dagster.test_room import BROKEN_TAKES, SCRIPT
from tests.ui.test_browser import CHROMIUM, CHROMIUM_ARGS, LOCATION, REPOSITORY, Studio, _free_port

pytestmark = pytest.mark.slow

SCREENSHOTS = REPO / "test-artifacts" / "room"
ROOM_TOKEN = "browser-room-token-5d1e8b"
OUTSIDE_NAME = "room.studio.test"  # the fallback name for a machine with no network address


def _stop_sensors(studio: Studio) -> None:
    """The sensors would re-plan the failing scene and re-run the dropped script: this test
    makes its runs itself."""
    sensors = studio.graphql("""query ($selector: RepositorySelector!) { sensorsOrError(repositorySelector: $selector) {
        ... on Sensors { results { name sensorState { id status } } } } }""",
                             selector={"repositoryName": REPOSITORY, "repositoryLocationName": LOCATION})
    for sensor in sensors["sensorsOrError"]["results"]:
        if sensor["sensorState"]["status"] == "RUNNING":
            stopped = studio.graphql("mutation ($id: String!) { stopSensor(id: $id) { __typename } }", id=sensor["sensorState"]["id"])
            assert stopped["stopSensor"]["__typename"] == "StopSensorMutationResult", stopped


def _make_drama(home: Path) -> None:
    """The drama and its episode through the same Definitions and instance as the UI (as `make demo` does)."""
    from dagster._core.instance.ref import InstanceRef

    from zipx_dagster.definitions import build_definitions
    from zipx_dagster.demo import register_drama
    from zipx_dagster.partitions import drama_episode_key

    script = home / "lab.fountain"
    script.write_text(SCRIPT)
    defs = build_definitions(home)  # the code location's own resources: its runs redo these partitions later
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster_home"))) as instance:
        register_drama(instance, script, home / "inbox")
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
        assert defs.resolve_job_def("episode_job").execute_in_process(
            instance=instance, partition_key=drama_episode_key("lab", "ep01"), run_config=BROKEN_TAKES).success


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (scripts/system-packages.sh)")
    home = tmp_path_factory.mktemp("room")
    port, room_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZIPX_S3_", "ZIPX_ROOM_"))}
    env.update(ZIPX_HOME=str(home), DAGSTER_HOME=str(home / "dagster_home"))
    log = home / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "zipx_dagster.serve", "--port", str(port), "--room-port", str(room_port),
             "--workspace", str(REPO / "workspace.yaml")],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    studio = Studio(f"http://127.0.0.1:{port}", home, log)
    room_url = f"http://127.0.0.1:{room_port}"

    def ready():
        if process.poll() is not None:
            pytest.fail(f"zipx_dagster.serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            daemons = studio.graphql("{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }")
            answered = httpx.get(room_url, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False
        healthy = {d["daemonType"]: d["healthy"] for d in daemons["instance"]["daemonHealth"]["allDaemonStatuses"]}
        return answered and healthy.get("QUEUED_RUN_COORDINATOR")

    try:
        studio.wait_for("the webserver, the daemon's run queue and the room", ready, timeout=180)
        _stop_sensors(studio)
        _make_drama(home)
        yield studio, room_url
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already: its error stands
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _wait_for_run(studio: Studio, run_id: str) -> dict:
    def finished():
        run = studio.graphql("query ($id: ID!) { runOrError(runId: $id) { ... on Run { status tags { key value } } } }",
                             id=run_id)["runOrError"]
        assert run["status"] not in ("FAILURE", "CANCELED"), f"run {run_id}: {run['status']}\n{studio.log.read_text()[-4000:]}"
        return run if run["status"] == "SUCCESS" else None

    return studio.wait_for(f"the run {run_id} the room launched", finished, timeout=240)


def _frames_shown(page) -> None:
    """Every take's first frame on screen before a screenshot."""
    page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 2)", timeout=30_000)


def _decide(page, shot: str, decision: str, note: str) -> str:
    """Fills in the shot's form as a reviewer, submits, and returns the launched run's id."""
    card = page.locator(f'article[data-shot="{shot}"]')
    card.locator('input[name="reviewer"]').fill("Ana Reviewer")
    card.locator('textarea[name="note"]').fill(note)
    card.locator(f'button[name="decision"][value="{decision}"]').click()
    launched = page.locator("[data-run]")
    launched.wait_for(timeout=30_000)
    return launched.get_attribute("data-run")


def test_review_a_drama_in_the_room(room):
    from playwright.sync_api import expect, sync_playwright

    studio, room_url = room
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        try:
            # the drama opens in the room: its cast sheet with stills and voices
            page.goto(room_url)
            page.get_by_role("link", name="Lab Night").click()
            for character in ("mia", "tom"):
                card = page.locator(f'article[data-character="{character}"]')
                expect(card.locator("img").first).to_be_visible()
                expect(card.locator("audio")).to_have_count(1)
            assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            page.screenshot(path=SCREENSHOTS / "cast_sheet.png", full_page=True)

            # approve one of Mia's still candidates: the launched reference_frames run locks it, with who approved it
            mia = page.locator('article[data-character="mia"]')
            slot = mia.locator(".slot").first
            slot_id = slot.get_attribute("data-slot")
            mia.locator('input[name="reviewer"]').fill("Ana Reviewer")
            slot.locator('figure[data-candidate="2"] button[name="pick"]').click()
            expect(page.locator(f'.slot[data-slot="{slot_id}"]')).to_contain_text("chosen by Ana Reviewer")
            run = _wait_for_run(studio, page.locator("[data-run]").get_attribute("data-run"))
            assert {"key": "zipx/reviewer", "value": "Ana Reviewer"} in run["tags"]
            page.goto(f"{room_url}/drama/lab")
            expect(page.locator(f'.slot[data-slot="{slot_id}"] .candidate.approved')).to_contain_text("✓ Ana Reviewer")
            mia.screenshot(path=SCREENSHOTS / "stills.png")

            # the storyboard grid, filtered to what awaits review
            page.goto(f"{room_url}/drama/lab/ep01/storyboard")
            shots = page.locator("figure[data-shot]").evaluate_all("els => els.map(e => e.dataset.shot)")
            assert len(shots) >= 4
            page.select_option('select[name="verdict"]', "review")
            page.get_by_role("button", name="Filter").click()
            expect(page.locator("figure.verdict-review")).to_have_count(len(shots))
            page.screenshot(path=SCREENSHOTS / "storyboard.png", full_page=True)

            # approve one flagged shot: its run applies the decision, shown with who and why
            approved, regenerated = shots[0], shots[-1]
            page.goto(f"{room_url}/drama/lab/ep01/review")
            run_id = _decide(page, approved, "approve", "the cut reads fine")
            run = _wait_for_run(studio, run_id)
            assert {"key": "zipx/reviewer", "value": "Ana Reviewer"} in run["tags"]
            page.goto(f"{room_url}/drama/lab/ep01/review")
            card = page.locator(f'article[data-shot="{approved}"]')
            expect(card).to_have_attribute("data-status", "approved")
            expect(card.locator(".reason")).to_contain_text("approved in review")
            expect(card.locator(".decision")).to_contain_text("Ana Reviewer")
            expect(card.locator(".decision")).to_contain_text("the cut reads fine")
            _frames_shown(page)
            card.screenshot(path=SCREENSHOTS / "approved.png")

            # regenerate another with a note: its run makes one new take, shown beside the old
            run_id = _decide(page, regenerated, "regenerate", "no black frames, same framing")
            _wait_for_run(studio, run_id)
            page.goto(f"{room_url}/drama/lab/ep01/review")
            card = page.locator(f'article[data-shot="{regenerated}"]')
            expect(card.locator("figure.take[data-attempt='4']")).to_have_count(1)
            expect(card.locator(".decision")).to_contain_text("no black frames, same framing")
            _frames_shown(page)
            card.screenshot(path=SCREENSHOTS / "regenerated.png")
            page.screenshot(path=SCREENSHOTS / "review_queue.png", full_page=True)

            # the episode plays, with its subtitles and every export
            page.goto(f"{room_url}/drama/lab/ep01")
            for export in ("otio", "fcp_xml", "edl", "capcut"):
                expect(page.locator(f'a[data-export="{export}"]')).to_have_count(1)
            page.evaluate("document.getElementById('episode-video').play()")
            page.wait_for_function("document.getElementById('episode-video').currentTime > 0.5", timeout=30_000)
            page.wait_for_function("document.querySelector('track').track.activeCues?.length > 0", timeout=30_000)  # a line on screen
            page.evaluate("document.getElementById('episode-video').pause()")
            page.screenshot(path=SCREENSHOTS / "episode.png", full_page=True)
        except AssertionError:
            page.screenshot(path=SCREENSHOTS / "failure.png", full_page=True)
            raise
        finally:
            browser.close()
    for name in ("cast_sheet.png", "stills.png", "storyboard.png", "approved.png", "regenerated.png", "review_queue.png", "episode.png"):
        assert (SCREENSHOTS / name).stat().st_size > 5_000, name


def _network_address() -> str | None:
    """This machine's address on its network (where another machine reaches it), None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))  # UDP: picks the route's source address, sends nothing
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback else address


def _outside() -> tuple[str, str, list[str]]:
    """(bind address, the host Chromium asks for, Chromium's extra args). The network address
    if there is one; else every address, under a name Chromium maps to loopback: either way the
    bind is not loopback, nor is the Host the room is asked under."""
    address = _network_address()
    if address:
        return address, address, []
    return "0.0.0.0", OUTSIDE_NAME, [f"--host-resolver-rules=MAP {OUTSIDE_NAME} 127.0.0.1"]


def _room_process(studio: Studio, bind: str, port: int, token: str | None) -> tuple[list[str], dict[str, str]]:
    """The command and environment serve.py uses for `--room-host`, over the studio's home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZIPX_S3_", "ZIPX_ROOM_"))}
    env.update(ZIPX_HOME=str(studio.home), DAGSTER_HOME=str(studio.home / "dagster_home"), **({"ZIPX_ROOM_TOKEN": token} if token else {}))
    command = [sys.executable, "-m", "zipx_dagster.room", "--host", bind, "--port", str(port), "--dagster-url", studio.url]
    return command, env


def _sign_in_from_outside(page, url: str) -> None:
    """What a person on another machine meets: the sign-in form instead of the drama, a wrong
    token refused, then the room once the right one is given."""
    from playwright.sync_api import expect

    answer = page.goto(f"{url}/drama/lab")
    assert answer.request.redirected_from.response().status == 303 and page.url == f"{url}/login"
    expect(page.locator('input[name="token"]')).to_be_visible()
    expect(page.locator("article[data-character]")).to_have_count(0)
    assert page.evaluate("fetch('/drama/lab').then(r => r.status)") == 401  # what a script or a <video> gets
    page.screenshot(path=SCREENSHOTS / "outside_refused.png", full_page=True)

    page.fill('input[name="token"]', "not-the-token")
    with page.expect_response(lambda r: r.url == f"{url}/login" and r.request.method == "POST") as posted:
        page.get_by_role("button", name="Sign in").click()
    assert posted.value.status == 401
    expect(page.locator(".notice.bad")).to_contain_text("not the room's token")
    page.screenshot(path=SCREENSHOTS / "outside_wrong_token.png", full_page=True)

    page.fill('input[name="token"]', ROOM_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")
    page.get_by_role("link", name="Lab Night").click()
    expect(page.locator('article[data-character="mia"] img').first).to_be_visible()
    assert page.evaluate("fetch('/drama/lab').then(r => r.status)") == 200
    assert all(ROOM_TOKEN not in c["value"] for c in page.context.cookies()) and ROOM_TOKEN not in page.url
    page.screenshot(path=SCREENSHOTS / "outside_signed_in.png", full_page=True)


def test_beyond_loopback_the_room_asks_for_its_token(room):
    from playwright.sync_api import sync_playwright

    studio, _ = room
    bind, host, chromium_args = _outside()
    port = _free_port()
    command, env = _room_process(studio, bind, port, token=None)
    refused = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert refused.returncode == 2 and "ZIPX_ROOM_TOKEN" in refused.stderr, refused.stderr  # it does not even listen

    command, env = _room_process(studio, bind, port, token=ROOM_TOKEN)
    log = studio.home / f"room-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    local = f"http://{'127.0.0.1' if bind == '0.0.0.0' else bind}:{port}/login"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        Studio(studio.url, studio.home, log).wait_for("the room beyond loopback", lambda: _answers(process, local, log), timeout=120)
        with sync_playwright() as playwright:
            # no proxy: the address is not loopback, and a proxy from the environment must not get the request
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--no-proxy-server", *chromium_args])
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            try:
                _sign_in_from_outside(page, f"http://{host}:{port}")
            except AssertionError:
                page.screenshot(path=SCREENSHOTS / "outside_failure.png", full_page=True)
                raise
            finally:
                browser.close()
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already: its error stands
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    for name in ("outside_refused.png", "outside_wrong_token.png", "outside_signed_in.png"):
        assert (SCREENSHOTS / name).stat().st_size > 5_000, name


def _answers(process: subprocess.Popen, url: str, log: Path) -> bool:
    if process.poll() is not None:
        pytest.fail(f"the room exited with {process.returncode}:\n{log.read_text()[-4000:]}")
    try:
        return httpx.get(url, timeout=5, trust_env=False).status_code == 200  # no proxy, as for Chromium
    except httpx.HTTPError:
        return False
