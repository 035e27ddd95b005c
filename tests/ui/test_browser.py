"""The UI end to end, as a studio uses it: the real dagster-webserver and dagster-daemon
(started by `python -m zipx_dagster.serve`, as `make dev` starts them) over a fresh
DAGSTER_HOME; a script dropped into the inbox; the script-drop sensor's runs watched
through the GraphQL API; one episode partition materialized through GraphQL the way the
UI's Materialize button does it; then headless Chromium (Debian's, driven by
Playwright) on the lineage graph and on the episode partition's page. Screenshots go
to test-artifacts/ui/."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, SAMPLE

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO / "test-artifacts" / "ui"
LOCATION, REPOSITORY = "zipx", "__repository__"
# Chromium as root in a sandbox with no network: no sandbox, no GPU, no calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Studio:
    def __init__(self, url: str, home: Path, log: Path):
        self.url, self.home, self.log = url, home, log

    def graphql(self, query: str, **variables) -> dict:
        response = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60)
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def wait_for(self, what: str, check, timeout: float):
        """Polls `check` until it returns something truthy; fails with the server log's tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(2)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; server log:\n{self.log.read_text()[-4000:]}")

    def runs(self) -> list[dict]:
        data = self.graphql("""{ runsOrError { ... on Runs { results {
            runId jobName status tags { key value } } } } }""")
        return data["runsOrError"]["results"]


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (scripts/system-packages.sh)")
    home = tmp_path_factory.mktemp("studio")
    port, room_port = _free_port(), _free_port()  # the room's own: UI port + 1 may be taken
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZIPX_S3_")}
    env.update(ZIPX_HOME=str(home), DAGSTER_HOME=str(home / "dagster_home"))
    log = home / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "zipx_dagster.serve", "--port", str(port), "--room-port", str(room_port),
                 "--workspace", str(REPO / "workspace.yaml")],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    studio = Studio(f"http://127.0.0.1:{port}", home, log)

    def daemon_ready():
        if process.poll() is not None:
            pytest.fail(f"zipx_dagster.serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            data = studio.graphql("{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }")
        except httpx.HTTPError:
            return False
        return {d["daemonType"]: d["healthy"] for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]}.get("SENSOR")

    try:
        studio.wait_for("the webserver and the daemon's sensor loop", daemon_ready, timeout=180)
        yield studio
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already: its error stands
            os.killpg(process.pid, signal.SIGTERM)  # the serve script, its two servers and any run still going
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _partition(run: dict) -> str | None:
    return next((t["value"] for t in run["tags"] if t["key"] == "dagster/partition"), None)


def test_drop_a_script_then_materialize_and_inspect_an_episode_in_the_browser(studio):
    from playwright.sync_api import expect, sync_playwright

    inbox = studio.home / "inbox"
    inbox.mkdir(exist_ok=True)
    shutil.copy(SAMPLE, inbox / SAMPLE.name)

    # 1. The sensor's runs: the drama first, then one per episode, all through the daemon.
    expected = {("drama_job", "harbour_lights"), ("episode_job", "harbour_lights|ep01"), ("episode_job", "harbour_lights|ep02")}

    def sensor_runs_done():
        runs = studio.runs()
        failed = [r for r in runs if r["status"] in ("FAILURE", "CANCELED")]
        assert not failed, f"runs did not succeed: {failed}\n{studio.log.read_text()[-4000:]}"
        done = {(r["jobName"], _partition(r)) for r in runs if r["status"] == "SUCCESS"}
        return expected <= done

    studio.wait_for("the script-drop sensor's runs to succeed", sensor_runs_done, timeout=600)
    sensor_run_ids = {r["runId"] for r in studio.runs()}

    # 2. Materialize one episode partition as the UI's Materialize button does: ask the
    # server for the partition's tags and config, then launch the asset job with them.
    nodes = studio.graphql("""{ assetNodes { assetKey { path } groupName
        assetChecksOrError { ... on AssetChecks { checks { name jobNames } } } } }""")["assetNodes"]
    asset_names = sorted(n["assetKey"]["path"][0] for n in nodes)
    assert asset_names == ["approved_frames", "character_bible", "drama_script", "episode", "episode_audio", "keyframes",
                           "reference_frames", "replans", "review_decisions", "scene_bible", "shot_plan", "shots", "storyboard"]
    episodes_group = [n for n in nodes if n["groupName"] == "episodes"]
    assets = [n["assetKey"] for n in episodes_group]
    # the UI selects an asset's checks with it (approved_frames cannot run without them)
    checks = [{"assetKey": n["assetKey"], "name": c["name"]}
              for n in episodes_group for c in n["assetChecksOrError"]["checks"] if "__ASSET_JOB" in c["jobNames"]]
    assert len(checks) == 3
    partition = "harbour_lights|ep01"
    data = studio.graphql("""
        query ($job: String!, $partition: String!, $assets: [AssetKeyInput!]!, $location: String!, $repo: String!) {
          pipelineOrError(params: {pipelineName: $job, repositoryName: $repo, repositoryLocationName: $location}) {
            ... on Pipeline { partition(partitionName: $partition, selectedAssetKeys: $assets) {
              runConfigOrError { ... on PartitionRunConfig { yaml } }
              tagsOrError { ... on PartitionTags { results { key value } } } } } } }""",
        job="__ASSET_JOB", partition=partition, assets=assets, location=LOCATION, repo=REPOSITORY)["pipelineOrError"]["partition"]
    tags = data["tagsOrError"]["results"]
    assert {"key": "dagster/partition", "value": partition} in tags
    launched = studio.graphql("""
        mutation ($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
          __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } } }""",
        params={"mode": "default", "runConfigData": data["runConfigOrError"]["yaml"],
                "executionMetadata": {"tags": tags},
                "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                             "pipelineName": "__ASSET_JOB", "assetSelection": assets, "assetCheckSelection": checks}})
    launch = launched["launchPipelineExecution"]
    assert launch["__typename"] == "LaunchRunSuccess", launch
    run_id = launch["run"]["runId"]
    assert run_id not in sensor_run_ids

    def materialized():
        status = next(r["status"] for r in studio.runs() if r["runId"] == run_id)
        assert status not in ("FAILURE", "CANCELED"), f"run {run_id}: {status}\n{studio.log.read_text()[-4000:]}"
        return status == "SUCCESS"

    studio.wait_for(f"the UI-style run {run_id}", materialized, timeout=300)

    # 3. The browser.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        try:
            # the lineage graph: every asset, upstream of `episode`, in its group
            page.goto(f"{studio.url}/assets/episode?view=lineage&lineageScope=upstream&lineageDepth=8")
            for name in asset_names:
                expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=60_000)
            for group in ("script", "bibles", "episodes"):
                expect(page.get_by_text(group, exact=True).first).to_be_visible()
            page.screenshot(path=SCREENSHOTS / "lineage.png")

            # the episode partition's page: materialized, by the run launched above, with its metadata
            page.goto(f"{studio.url}/assets/episode?view=partitions&partition={partition.replace('|', '%7C')}")
            expect(page.get_by_text(partition, exact=True).first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Materialized", exact=True).first).to_be_visible()
            expect(page.get_by_text(run_id[:8], exact=True).first).to_be_visible()
            for field in ("shot_count", "duration_s", "loudness_lufs", "cost_usd"):
                expect(page.get_by_text(field, exact=True).first).to_be_visible()
            page.screenshot(path=SCREENSHOTS / "episode_partition.png", full_page=True)

            # the episodes group with per-asset status, checks and kinds
            page.set_viewport_size({"width": 2400, "height": 1400})  # the group's graph shows checks only when it fits unshrunk
            page.goto(f"{studio.url}/locations/{LOCATION}/asset-groups/episodes")
            expect(page.get_by_text("approved_frames", exact=True).first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("3 / 3 Passed").first).to_be_visible(timeout=60_000)
            page.screenshot(path=SCREENSHOTS / "episodes_group.png")
        except AssertionError:
            page.screenshot(path=SCREENSHOTS / "failure.png", full_page=True)  # what the page showed instead
            raise
        finally:
            browser.close()
    for name in ("lineage.png", "episode_partition.png", "episodes_group.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000, name
