"""The review room end to end, as a reviewer uses it: `python -m zipx_dagster.serve` (as
`make dev` starts it: webserver, daemon and the room) over a fresh home; a small drama
made by the real jobs with black frames injected, so its shots await review; then
Debian's headless Chromium (Playwright, as tests/ui/test_browser.py drives it) on the
room: the cast sheet (a still candidate approved, its reference_frames run locking it),
the storyboard grid, a shot approved and another regenerated
with a note from the page (each decision launching its run through the webserver's
GraphQL API, the next materialization showing it), and the episode playing with its
subtitles. Screenshots go to test-artifacts/room/."""

from __future__ import annotations

import os
import signal
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
