"""The review room over a home made by the real jobs: a tiny script whose takes all fail
the gate (black frames injected), so every shot awaits review. Starlette's TestClient
drives the app; a fake launcher stands in for the Dagster webserver (the GraphQL
launcher is checked against Dagster's own schema here, and for real in
tests/ui/test_room.py)."""

import json

import dagster as dg
import httpx
import pytest
from starlette.testclient import TestClient

from zipx_core.manifests import ManifestReader
from zipx_core.qa.review import load_decisions
from zipx_core.storage import LocalArtifactStore, S3ArtifactStore, uri_key
from zipx_core.storyboard.replans import record_renames
from zipx_dagster.definitions import build_definitions
from zipx_dagster.demo import register_drama
from zipx_dagster.partitions import drama_episode_key
from zipx_dagster.resources import RenderConfig
from zipx_dagster.room.app import Room, create_app
from zipx_dagster.room.launcher import DagsterLauncher
from zipx_dagster.room.security import RoomRefused

pytestmark = pytest.mark.slow
SCRIPT = """Title: Lab Night

INT. LAB - NIGHT

MIA, 29, a tall woman with black hair, in a white coat, checks a monitor.

MIA
It worked.

TOM, 40, a broad man in a grey suit, walks in.

TOM
What worked?

MIA
(crying)
It actually worked!
"""
BROKEN_TAKES = {"resources": {"failures": {"config": {"black_frames": 1.0}}}}
TOKEN = "room-token-7f3a9c"
LOCAL = "http://127.0.0.1:3001"  # the room answers loopback names only, unless it has a token


class FakeLauncher:
    def __init__(self):
        self.calls, self.reports, self.order = [], [], []

    def launch(self, assets, partition, tags):
        self.calls.append((assets, partition, tags))
        self.order.append("launch")
        return f"run-{len(self.calls):04d}"

    def report(self, asset, partition, description):
        self.reports.append((asset, partition, description))
        self.order.append("report")

    def run_url(self, run_id):
        return f"http://127.0.0.1:3000/runs/{run_id}"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """(home, definitions, instance): the drama and its one episode materialized, every shot awaiting review."""
    home = tmp_path_factory.mktemp("room")
    script = home / "lab.fountain"
    script.write_text(SCRIPT)
    defs = build_definitions(home, RenderConfig(width=160, height=90))
    with dg.instance_for_test() as instance:
        register_drama(instance, script, home / "inbox")
        assert defs.resolve_job_def("drama_job").execute_in_process(instance=instance, partition_key="lab").success
        episode_run = defs.resolve_job_def("episode_job").execute_in_process(
            instance=instance, partition_key=drama_episode_key("lab", "ep01"), run_config=BROKEN_TAKES)
        assert episode_run.success
        yield home, defs, instance


def _room(home, store=None, launcher=None):
    return Room(ManifestReader(home / "manifests"), store or LocalArtifactStore(home / "artifacts"), launcher or FakeLauncher(),
                budget_episode_usd=5.0, budget_drama_usd=20.0)


def _report(home):
    return json.loads((home / "manifests" / "approved_frames" / "lab" / "ep01.json").read_text())["data"]


def _waiting(home):
    return [o["shot_id"] for o in _report(home)["outcomes"] if o["status"] == "review"]


def test_pages_show_the_cast_storyboard_episode_and_review_queue(studio):
    home, _, _ = studio
    client = TestClient(create_app(_room(home)), base_url=LOCAL)
    waiting = _waiting(home)
    assert len(waiting) >= 4
    board = json.loads((home / "manifests" / "storyboard" / "lab" / "ep01.json").read_text())["data"]["shots"]

    assert "/drama/lab/ep01/review" in client.get("/").text
    drama = client.get("/drama/lab").text
    references = json.loads((home / "manifests" / "reference_frames" / "lab.json").read_text())["data"]
    for character in ("mia", "tom"):
        assert f'data-character="{character}"' in drama
        assert all(f'src="/media/{uri_key(uri)}"' in drama for uri in references["characters"][character])
    assert drama.count("<audio controls") == 2  # a voice sample each
    assert "$20.00, $20.00 left" in drama  # the drama's budget, nothing spent offline

    episode = client.get("/drama/lab/ep01").text
    manifest = json.loads((home / "manifests" / "episode" / "lab" / "ep01.json").read_text())["data"]
    assert f'src="/media/{uri_key(manifest["video_uri"])}"' in episode
    assert f'<track kind="subtitles" srclang="en" label="Subtitles" src="/media/{uri_key(manifest["subtitles_vtt_uri"])}"' in episode
    assert all(f'data-export="{fmt}"' in episode for fmt in ("otio", "fcp_xml", "edl", "capcut"))

    grid = client.get("/drama/lab/ep01/storyboard").text
    assert all(f'data-shot="{shot["shot_id"]}"' in grid for shot in board)
    close_ups = client.get("/drama/lab/ep01/storyboard", params={"type": "CU", "verdict": "review"}).text
    expected = {s["shot_id"] for s in board if s["shot_type"] == "CU"}
    assert expected and {s["shot_id"] for s in board if f'data-shot="{s["shot_id"]}"' in close_ups} == expected

    queue = client.get("/drama/lab/ep01/review").text
    for shot in waiting:
        assert f'id="{shot}" data-shot="{shot}" data-status="review"' in queue
    assert "black_frames" in queue and "reference mia" in queue and "reference lab" in queue  # scores, and what was compared


def test_approve_records_who_and_why_launches_the_gate_and_the_next_run_applies_it(studio):
    home, defs, instance = studio
    launcher = FakeLauncher()
    client = TestClient(create_app(_room(home, launcher=launcher)), base_url=LOCAL)
    shot = _waiting(home)[0]
    kept = next(o["take"] for o in _report(home)["outcomes"] if o["shot_id"] == shot)

    answer = client.post(f"/drama/lab/ep01/review/{shot}", data={"decision": "approve", "reviewer": "Ana", "note": "reads fine"},
                         follow_redirects=False)
    assert answer.status_code == 303 and "launched=run-0001" in answer.headers["location"]
    decision = load_decisions(LocalArtifactStore(home / "artifacts"), "lab", "ep01")[shot]
    assert (decision.decision, decision.reviewer, decision.note) == ("approve", "Ana", "reads fine")
    assert decision.decided_at and decision.take.model_dump(mode="json") == kept
    assert launcher.calls == [(["approved_frames", "episode"], "lab|ep01", {"zipx/review": f"approve {shot}", "zipx/reviewer": "Ana"})]
    # the lineage shows the decision: reported as review_decisions for the pair, before the launch
    assert launcher.reports == [("review_decisions", "lab|ep01", f"approve {shot} by Ana in the review room: reads fine")]
    assert launcher.order == ["report", "launch"]

    # what the launched run does: the gate applies the recorded decision
    job = defs.resolve_job_def("episode_job")
    assert job.execute_in_process(instance=instance, partition_key=drama_episode_key("lab", "ep01"),
                                  asset_selection=[dg.AssetKey("approved_frames")]).success
    outcome = next(o for o in _report(home)["outcomes"] if o["shot_id"] == shot)
    assert outcome["status"] == "approved" and "approved in review" in outcome["reason"]
    page = client.get("/drama/lab/ep01/review").text
    assert f'data-shot="{shot}" data-status="approved"' in page and "reads fine" in page and ">Ana<" in page


def test_regenerate_needs_a_reviewer_and_a_note(studio):
    home, _, _ = studio
    launcher = FakeLauncher()
    client = TestClient(create_app(_room(home, launcher=launcher)), base_url=LOCAL)
    shot = _waiting(home)[-1]
    store = LocalArtifactStore(home / "artifacts")
    for form in ({"decision": "regenerate", "reviewer": "Ana", "note": " "}, {"decision": "regenerate", "reviewer": "", "note": "wider"}):
        answer = client.post(f"/drama/lab/ep01/review/{shot}", data=form, follow_redirects=False)
        assert answer.status_code == 303 and "error=" in answer.headers["location"]
    assert shot not in load_decisions(store, "lab", "ep01") and launcher.calls == []

    answer = client.post(f"/drama/lab/ep01/review/{shot}", data={"decision": "regenerate", "reviewer": "Ben", "note": "no black frames"})
    assert answer.status_code == 200 and "regenerate" in answer.text
    decision = load_decisions(store, "lab", "ep01")[shot]
    assert (decision.decision, decision.reviewer, decision.note, decision.take) == ("regenerate", "Ben", "no black frames", None)
    assert launcher.calls[0][:2] == (["approved_frames", "episode"], "lab|ep01")

    not_waiting = client.post("/drama/lab/ep01/review/ep01-sc999-01", data={"decision": "approve", "reviewer": "Ben"},
                              follow_redirects=False)
    assert "not+awaiting+review" in not_waiting.headers["location"] and len(launcher.calls) == 1


def test_media_streams_with_ranges_and_nothing_outside_the_store(studio):
    home, _, _ = studio
    client = TestClient(create_app(_room(home)), base_url=LOCAL)
    manifest = json.loads((home / "manifests" / "episode" / "lab" / "ep01.json").read_text())["data"]
    video = f"/media/{uri_key(manifest['video_uri'])}"
    part = client.get(video, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.headers["content-type"] == "video/mp4" and len(part.content) == 100
    whole = (home / "artifacts" / uri_key(manifest["video_uri"])).read_bytes()
    assert part.content == whole[100:200] and part.headers["content-range"] == f"bytes 100-199/{len(whole)}"
    assert client.get(f"/media/{uri_key(manifest['subtitles_vtt_uri'])}").headers["content-type"].startswith("text/vtt")
    download = client.get(f"/media/{uri_key(manifest['timeline']['exports']['edl'])}", params={"download": "lab_ep01.edl"})
    assert download.headers["content-disposition"].startswith("attachment") and "lab_ep01.edl" in download.headers["content-disposition"]

    (home / "secret.txt").write_text("not for the room")
    for attempt in ("/media/../secret.txt", "/media/..%2F..%2Fsecret.txt", "/media/clips/aa/..%2F..%2F..%2Fsecret.txt",
                    "/media/%2Fetc%2Fpasswd", "/media/records/spend/lab.json", "/media/clips/00/" + "0" * 64 + ".mp4"):
        answer = client.get(attempt)
        assert answer.status_code == 404, attempt
        assert "not for the room" not in answer.text and "root:" not in answer.text


def test_on_s3_media_redirect_to_presigned_urls(studio, tmp_path):
    import boto3
    from botocore.config import Config

    home, _, _ = studio
    client_s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1", config=Config(signature_version="s3v4"),
                             aws_access_key_id="AKIDROOMTEST", aws_secret_access_key="room-secret-key-do-not-show")
    store = S3ArtifactStore(client_s3, "zipx-bucket", "studio", cache_root=tmp_path / "cache")
    manifest = json.loads((home / "manifests" / "episode" / "lab" / "ep01.json").read_text())["data"]
    vtt = manifest["subtitles_vtt_uri"]
    cached = store.cache.path(vtt)  # as if downloaded before: subtitles come through the room (a <track> needs same origin)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes((home / "artifacts" / uri_key(vtt)).read_bytes())
    client = TestClient(create_app(_room(home, store=store)), base_url=LOCAL)

    answer = client.get(f"/media/{uri_key(manifest['video_uri'])}", follow_redirects=False)
    location = answer.headers["location"]
    assert answer.status_code == 307 and "/zipx-bucket/studio/" + uri_key(manifest["video_uri"]) in location
    assert "X-Amz-Signature=" in location and "room-secret-key-do-not-show" not in location
    assert client.get(f"/media/{uri_key(vtt)}").text.startswith("WEBVTT")


def test_beyond_loopback_only_with_the_token(studio):
    home, _, _ = studio
    with pytest.raises(RoomRefused, match="ZIPX_ROOM_TOKEN"):
        create_app(_room(home), host="0.0.0.0")
    with pytest.raises(RoomRefused):
        create_app(_room(home), host="192.168.1.20", token="")
    client = TestClient(create_app(_room(home), host="0.0.0.0", token=TOKEN))

    assert client.get("/drama/lab").status_code == 401
    assert client.get("/drama/lab", headers={"Accept": "text/html"}, follow_redirects=False).headers["location"] == "/login"
    assert client.get("/drama/lab", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/media/" + "clips/00/" + "0" * 64 + ".mp4").status_code == 401
    assert client.post("/drama/lab/ep01/review/x", data={"decision": "approve"}).status_code == 401
    assert client.get("/drama/lab", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200

    assert client.post("/login", data={"token": "wrong"}).status_code == 401
    signed_in = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert signed_in.status_code == 303 and TOKEN not in signed_in.headers["set-cookie"]
    page = client.get("/drama/lab")  # the cookie now
    assert page.status_code == 200 and TOKEN not in page.text


def test_forms_from_another_site_are_refused(studio):
    home, _, _ = studio
    launcher = FakeLauncher()
    client = TestClient(create_app(_room(home, launcher=launcher)), base_url=LOCAL)
    shot = _waiting(home)[1]
    answer = client.post(f"/drama/lab/ep01/review/{shot}", data={"decision": "approve", "reviewer": "Eve"},
                         headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403 and launcher.calls == []
    rebound = client.get("/drama/lab", headers={"Host": "evil.example:3001"})  # a DNS-rebinding page's own name
    assert rebound.status_code == 403 and "Mia" not in rebound.text
    assert shot not in load_decisions(LocalArtifactStore(home / "artifacts"), "lab", "ep01")


class SeededDrawer:
    """A still source that draws what its seed says, as a hosted image model does (the
    offline drawer draws from the bible alone, so its re-roll is the same picture)."""

    def still(self, request):
        from PIL import Image

        return Image.new("RGB", (request.width, request.height), tuple(request.seed.to_bytes(4, "big")[:3]))


def test_cast_sheet_approve_edit_and_reroll_through_the_cli_functions(studio):
    from zipx_core.bible.cast_sheet import load_cast_record
    from zipx_core.models import Bibles
    from zipx_core.qa.references import make_references

    home, defs, instance = studio
    launcher = FakeLauncher()
    client = TestClient(create_app(_room(home, launcher=launcher)), base_url=LOCAL)
    store, reader = LocalArtifactStore(home / "artifacts"), ManifestReader(home / "manifests")

    assert client.post("/drama/lab/cast/mia", data={"action": "approve"}).status_code == 200
    assert "mia" in load_cast_record(store, "lab").locked.characters
    assert launcher.calls[-1] == (["character_bible", "scene_bible", "reference_frames"], "lab", {"zipx/cast": "approve mia"})
    refused = client.post("/drama/lab/cast/mia", data={"action": "reroll"}, follow_redirects=False)
    assert "approved" in refused.headers["location"] and len(launcher.calls) == 1

    bibles = Bibles.of(reader.load("character_bible", "lab"), reader.load("scene_bible", "lab"))
    boards = [reader.load("storyboard", "lab", "ep01")]
    before = make_references(bibles, boards, store, 32, 18, SeededDrawer()).characters
    assert client.post("/drama/lab/cast/tom", data={"action": "reroll"}).status_code == 200
    assert store.get_record("rerolls", "lab") == {"tom": 1} and "tom" not in store.get_record("references", "lab")["characters"]
    assert launcher.calls[-1] == (["character_bible", "scene_bible", "reference_frames"], "lab", {"zipx/cast": "reroll tom"})
    after = make_references(bibles, boards, store, 32, 18, SeededDrawer()).characters
    assert after["mia"] == before["mia"] and set(after["tom"]).isdisjoint(before["tom"])  # new candidates for Tom only
    assert defs.resolve_job_def("drama_job").execute_in_process(  # what the launched run does: Tom drawn and locked again
        instance=instance, partition_key="lab", asset_selection=[dg.AssetKey("reference_frames")]).success
    assert "tom" in store.get_record("references", "lab")["characters"]

    form = {"action": "edit", "display_name": "Tom", "gender": "male", "hair_color": "#aa3311", "pitch": "40", "rate_wpm": "150"}
    edited = client.post("/drama/lab/cast/tom", data=form)
    assert edited.status_code == 200 and "hair_color" in edited.text
    assert load_cast_record(store, "lab").edits.characters["tom"].appearance.hair_color == "#aa3311"
    page = client.get("/drama/lab").text  # the sheet as the next run builds it, said to be pending
    assert 'name="hair_color" value="#aa3311"' in page and "not materialized yet" in page
    bad = client.post("/drama/lab/cast/tom", data={**form, "rate_wpm": "999"}, follow_redirects=False)
    assert "rate_wpm" in bad.headers["location"]


def test_the_graphql_launcher_speaks_dagsters_schema():
    from dagster_graphql.schema import create_schema
    from graphql import parse, validate

    from zipx_dagster.room import launcher as module

    schema = create_schema().graphql_schema
    for query in (module.ASSET_NODES, module.PARTITION, module.LAUNCH, module.REPORT):
        assert validate(schema, parse(query)) == []
    sent = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        if "assetNodes" in body["query"]:
            return httpx.Response(200, json={"data": {"assetNodes": [
                {"assetKey": {"path": ["approved_frames"]}, "repository": {"name": "__repository__", "location": {"name": "zipx"}},
                 "assetChecksOrError": {"checks": [{"name": "drift_left_in_pool", "jobNames": ["__ASSET_JOB", "episode_job"]}]}},
                {"assetKey": {"path": ["episode"]}, "repository": {"name": "__repository__", "location": {"name": "zipx"}},
                 "assetChecksOrError": {"checks": []}}]}})
        if "pipelineOrError" in body["query"]:
            return httpx.Response(200, json={"data": {"pipelineOrError": {"__typename": "Pipeline", "partition": {
                "runConfigOrError": {"yaml": "{}"},
                "tagsOrError": {"__typename": "PartitionTags", "results": [{"key": "dagster/partition", "value": "lab|ep01"}]}}}}})
        if "reportRunlessAssetEvents" in body["query"]:
            return httpx.Response(200, json={"data": {"reportRunlessAssetEvents": {
                "__typename": "ReportRunlessAssetEventsSuccess", "assetKey": {"path": ["review_decisions"]}}}})
        return httpx.Response(200, json={"data": {"launchPipelineExecution": {"__typename": "LaunchRunSuccess", "run": {"runId": "abc"}}}})

    launcher = DagsterLauncher("http://dagster:3000", client=httpx.Client(transport=httpx.MockTransport(answer)))
    assert launcher.launch(["approved_frames", "episode"], "lab|ep01", {"zipx/reviewer": "Ana"}) == "abc"
    params = sent[-1]["variables"]["params"]
    assert params["selector"] == {"repositoryLocationName": "zipx", "repositoryName": "__repository__", "pipelineName": "__ASSET_JOB",
                                  "assetSelection": [{"path": ["approved_frames"]}, {"path": ["episode"]}],
                                  "assetCheckSelection": [{"assetKey": {"path": ["approved_frames"]}, "name": "drift_left_in_pool"}]}
    assert params["executionMetadata"]["tags"] == [{"key": "dagster/partition", "value": "lab|ep01"}, {"key": "zipx/reviewer", "value": "Ana"}]

    launcher.report("review_decisions", "lab|ep01", "approve ep01-sc001-01 by Ana in the review room")
    assert "reportRunlessAssetEvents" in sent[-1]["query"]
    assert sent[-1]["variables"]["params"] == {"eventType": "ASSET_MATERIALIZATION", "assetKey": {"path": ["review_decisions"]},
                                               "partitionKeys": ["lab|ep01"],
                                               "description": "approve ep01-sc001-01 by Ana in the review room"}


def test_a_reported_decision_lands_in_dagster_as_a_review_decisions_materialization(tmp_path):
    """The launcher's report through Dagster's own GraphQL (a code server on the decision assets):
    a runless materialization of review_decisions for the drama|episode partition."""
    from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

    code = tmp_path / "decision_assets.py"
    code.write_text("import dagster as dg\nfrom zipx_dagster.assets.decisions import SPECS\ndefs = dg.Definitions(assets=SPECS)\n")
    with dg.instance_for_test() as instance, define_out_of_process_context(str(code), "defs", instance) as context:
        def answer(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            result = execute_dagster_graphql(context, body["query"], variables=body["variables"])
            return httpx.Response(200, json={"data": result.data, "errors": [str(e) for e in result.errors or []]})

        launcher = DagsterLauncher("http://dagster:3000", client=httpx.Client(transport=httpx.MockTransport(answer)))
        launcher.report("review_decisions", "lab|ep01", "approve ep01-sc001-01 by Ana in the review room: reads fine")
        event = instance.get_latest_materialization_event(dg.AssetKey("review_decisions"))
    assert event.run_id == "" and event.asset_materialization.partition == "lab|ep01"
    assert event.asset_materialization.description == "approve ep01-sc001-01 by Ana in the review room: reads fine"


def test_the_room_command_refuses_a_public_bind_without_a_token(tmp_path, monkeypatch, capsys):
    from zipx_dagster.room.__main__ import main

    monkeypatch.setenv("ZIPX_HOME", str(tmp_path))
    for variable in ("ZIPX_ROOM_TOKEN", "ZIPX_S3_BUCKET"):
        monkeypatch.delenv(variable, raising=False)
    assert main(["--host", "0.0.0.0", "--port", "1"]) == 2  # refused before it binds anything
    assert "ZIPX_ROOM_TOKEN" in capsys.readouterr().err


def test_asset_metadata_links_into_the_room(monkeypatch):
    from zipx_dagster.room.links import room_link

    monkeypatch.delenv("ZIPX_ROOM_URL", raising=False)
    assert room_link("/drama/lab/ep01/review").value == "http://127.0.0.1:3001/drama/lab/ep01/review"
    monkeypatch.setenv("ZIPX_ROOM_URL", "https://room.studio.example/")
    assert room_link("/drama/lab").value == "https://room.studio.example/drama/lab"


def test_a_decision_is_kept_when_the_webserver_is_down(studio):
    from zipx_core.bible.cast_sheet import load_cast_record

    home, _, _ = studio
    launcher = DagsterLauncher("http://127.0.0.1:9")  # nothing listens there
    client = TestClient(create_app(_room(home, launcher=launcher)), base_url=LOCAL)
    answer = client.post("/drama/lab/cast/lab", data={"action": "approve"})  # a place, this time
    assert answer.status_code == 200 and "no run was launched" in answer.text and "did not answer" in answer.text
    assert "lab" in load_cast_record(LocalArtifactStore(home / "artifacts"), "lab").locked.places


def _slot(page: str, slot: str) -> str:
    """The slot's part of its card: up to the next slot, or the end of the card's form."""
    start = page.index(f'data-slot="{slot}"')
    return page[start:min(i for i in (page.find('class="slot"', start), page.index("</form>", start)) if i != -1)]


def test_a_still_approved_in_the_room_is_recorded_and_locked_by_the_launched_run(studio):
    home, defs, instance = studio
    launcher = FakeLauncher()
    client = TestClient(create_app(_room(home, launcher=launcher)), base_url=LOCAL)
    store, manifest = LocalArtifactStore(home / "artifacts"), home / "manifests" / "reference_frames" / "lab.json"
    slots = json.loads(manifest.read_text())["data"]["slots"]
    slot = next(s for s in slots if s["entity"] == "mia")

    page = client.get("/drama/lab").text  # offline: every slot approved automatically, none awaits a person
    assert all(f'data-slot="{s["slot"]}" data-awaiting="no"' in page for s in slots)
    assert all(f'src="/media/{uri_key(uri)}"' in page for s in slots for uri in s["candidates"])
    assert "✓ auto (best score)" in _slot(page, slot["slot"]) and 'class="notice warn" data-awaiting' not in page
    original = manifest.read_bytes()
    try:  # as with a hosted image model: the slot waits for a person
        waiting = json.loads(original)
        waiting["data"]["slots"][slots.index(slot)] |= {"approved": None, "approved_by": ""}
        manifest.write_text(json.dumps(waiting))
        page = client.get("/drama/lab").text
        assert '<p class="notice warn" data-awaiting="1">1 still slot awaits a person' in page
        assert f'data-slot="{slot["slot"]}" data-awaiting="yes"' in page and "✓" not in _slot(page, slot["slot"])
    finally:
        manifest.write_bytes(original)

    uri = slot["candidates"][-1]
    answer = client.post("/drama/lab/stills", data={"pick": f"{slot['slot']}|{uri}", "reviewer": "Ana"}, follow_redirects=False)
    assert answer.status_code == 303 and "launched=run-0001" in answer.headers["location"] and answer.headers["location"].endswith("#mia")
    assert store.get_record("still_approvals", "lab")[slot["slot"]]["uri"] == uri
    assert store.get_record("still_approvals", "lab")[slot["slot"]]["by"] == "Ana"
    number = slot["candidates"].index(uri) + 1
    assert launcher.calls == [(["reference_frames"], "lab", {"zipx/stills": f"approve {slot['slot']} #{number}", "zipx/reviewer": "Ana"})]
    page = client.get("/drama/lab").text  # the name remembered, the choice shown until the run locks it
    assert "chosen by Ana: locks on the next run" in _slot(page, slot["slot"]) and 'data-chosen="1"' in page
    assert 'name="reviewer" value="Ana"' in page

    assert defs.resolve_job_def("drama_job").execute_in_process(  # what the launched run does
        instance=instance, partition_key="lab", asset_selection=[dg.AssetKey("reference_frames")]).success
    locked = next(s for s in json.loads(manifest.read_text())["data"]["slots"] if s["slot"] == slot["slot"])
    assert (locked["approved"], locked["approved_by"]) == (uri, "Ana")
    page = client.get("/drama/lab").text
    assert "✓ Ana" in _slot(page, slot["slot"]) and "data-chosen" not in page


def test_a_still_approval_is_refused_without_a_name_or_for_an_unknown_slot_or_candidate(studio):
    home, _, _ = studio
    launcher = FakeLauncher()
    client = TestClient(create_app(_room(home, launcher=launcher)), base_url=LOCAL)
    store = LocalArtifactStore(home / "artifacts")
    slot = json.loads((home / "manifests" / "reference_frames" / "lab.json").read_text())["data"]["slots"][0]
    before = store.get_record("still_approvals", "lab")
    for form, said in (({"pick": f"{slot['slot']}|{slot['candidates'][0]}", "reviewer": " "}, "say+who+you+are"),
                       ({"pick": f"mia/back/lab|{slot['candidates'][0]}", "reviewer": "Ana"}, "no+still+slot"),
                       ({"pick": f"{slot['slot']}|zipx://stills/00/{'0' * 64}.png", "reviewer": "Ana"}, "no+candidate"),
                       ({"reviewer": "Ana"}, "no+still+slot")):
        answer = client.post("/drama/lab/stills", data=form, follow_redirects=False)
        assert answer.status_code == 303 and said in answer.headers["location"], form
    cross = client.post("/drama/lab/stills", data={"pick": f"{slot['slot']}|{slot['candidates'][0]}", "reviewer": "Eve"},
                        headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    assert store.get_record("still_approvals", "lab") == before and launcher.calls == []


def _figure(page: str, shot: str) -> str:
    start = page.index(f'data-shot="{shot}"')
    return page[start:page.index("</figure>", start)]


def test_the_storyboard_shows_each_shots_keyframe_beside_its_take(studio):
    from zipx_core.models import Keyframe, KeyframeSet

    home, _, _ = studio
    client = TestClient(create_app(_room(home)), base_url=LOCAL)
    shots = [s["shot_id"] for s in json.loads((home / "manifests" / "storyboard" / "lab" / "ep01.json").read_text())["data"]["shots"]]
    takes = {t["shot_id"]: t for t in json.loads((home / "manifests" / "shots" / "lab" / "ep01.json").read_text())["data"]["takes"]}
    reader, saved = ManifestReader(home / "manifests"), home / "manifests" / "keyframes" / "lab" / "ep01.json"
    made = saved.read_bytes()  # the keyframes the episode's run made
    saved.unlink()  # as a run made before keyframes left it: the takes alone
    grid = client.get("/drama/lab/ep01/storyboard").text
    assert "data-keyframe" not in grid and "video-first" not in grid
    assert f'class="thumb" src="/media/{uri_key(takes[shots[0]]["thumbnail_uri"])}"' in grid

    still = json.loads((home / "manifests" / "reference_frames" / "lab.json").read_text())["data"]["locations"]["lab"][0]
    keyframes = KeyframeSet(drama="lab", episode="ep01", keyframes=[
        Keyframe(shot_id=shots[0], uri=still, attempts=2, continuity=0.873, cost_usd=0.08, candidates=[still]),
        Keyframe(shot_id=shots[1], attempts=3, continuity=0.41, reason="continuity 0.41 below 0.62 in 3 attempts")])
    reader.save("keyframes", "lab", "ep01", keyframes)
    try:
        grid = client.get("/drama/lab/ep01/storyboard").text
        first = _figure(grid, shots[0])
        assert f'class="keyframe" src="/media/{uri_key(still)}"' in first and 'class="thumb"' in first  # side by side
        assert 'data-keyframe="yes"' in first and "keyframe (left), take (right) · 2 attempts · continuity 0.87 · $0.08" in first
        second = _figure(grid, shots[1])
        assert 'class="keyframe"' not in second and 'class="thumb"' in second
        assert "<b>video-first</b>: continuity 0.41 below 0.62 in 3 attempts" in second
        assert "video-first</b>: no keyframe made for this shot" in _figure(grid, shots[2])
        reader.save("keyframes", "lab", "ep01", keyframes.model_copy(update={"enabled": False, "keyframes": []}))
        off = client.get("/drama/lab/ep01/storyboard").text
        assert all("video-first</b>: keyframes are off for this drama" in _figure(off, shot) for shot in shots)
    finally:
        saved.write_bytes(made)
    made_by_the_run = ManifestReader(home / "manifests").load("keyframes", "lab", "ep01")
    grid = client.get("/drama/lab/ep01/storyboard").text
    for keyframe in made_by_the_run.keyframes:
        shown = _figure(grid, keyframe.shot_id)
        assert (f'src="/media/{uri_key(keyframe.uri)}"' in shown) if keyframe.uri else ("video-first" in shown)


def test_an_old_shot_link_follows_a_replan_to_the_shot_now(studio):
    home, _, _ = studio
    launcher = FakeLauncher()
    client = TestClient(create_app(_room(home, launcher=launcher)), base_url=LOCAL)
    store = LocalArtifactStore(home / "artifacts")
    board = [s["shot_id"] for s in json.loads((home / "manifests" / "storyboard" / "lab" / "ep01.json").read_text())["data"]["shots"]]
    first, second, third = board[:3]
    old, split, never = (f"ep01-sc001-{len(board) + n:02d}" for n in (1, 2, 3))  # ids an earlier, longer plan had
    # as a failure-cluster re-plan records it: each retired id -> the ids the storyboard has now (one was split in two)
    record_renames(store, "lab", "ep01", {old: [first], split: [second, third]})
    try:
        followed = client.get(f"/drama/lab/ep01/shot/{old}", follow_redirects=False)
        assert followed.status_code == 307 and followed.headers["location"].startswith(f"/drama/lab/ep01/shot/{first}?")
        card = client.get(followed.headers["location"], follow_redirects=False)  # every shot here awaits review or was decided
        assert card.status_code == 303 and card.headers["location"].startswith("/drama/lab/ep01/review?")
        assert card.headers["location"].endswith(f"#{first}")
        page = client.get(f"/drama/lab/ep01/shot/{old}")  # followed, as a browser does
        assert page.status_code == 200 and f'id="{first}"' in page.text
        assert f"{old} was re-planned as {first}</p>" in page.text
        halves = client.get(f"/drama/lab/ep01/shot/{split}")
        assert f"{split} was re-planned as {second}, {third}</p>" in halves.text and f'id="{second}"' in halves.text
        assert client.get(f"/drama/lab/ep01/shot/{never}").status_code == 404  # never planned, never renamed
        assert client.get("/drama/lab/ep09/shot/ep09-sc001-01").status_code == 404

        # a decision posted from a page open since before the re-plan: not recorded, and says where the shot went
        stale = client.post(f"/drama/lab/ep01/review/{old}", data={"decision": "approve", "reviewer": "Ana"},
                            follow_redirects=False)
        assert "re-planned+as" in stale.headers["location"] and stale.headers["location"].endswith(f"#{first}")
        assert old not in load_decisions(store, "lab", "ep01") and launcher.calls == []
    finally:
        record_renames(store, "lab", "ep01", {})  # the other tests' episode, as its plan left it
