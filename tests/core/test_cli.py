import json
import os
import sys
import time

import pytest

from zipx_core.cli import main
from tests.conftest import SAMPLE


def test_parse_summary_and_json(capsys):
    assert main(["parse", str(SAMPLE)]) == 0
    assert "Harbour Lights (harbour_lights.fountain): 2 episode(s), 8 scene(s)" in capsys.readouterr().out
    assert main(["parse", str(SAMPLE), "--json"]) == 0
    assert [e["key"] for e in json.loads(capsys.readouterr().out)["episodes"]] == ["ep01", "ep02"]


def test_bible_and_storyboard(capsys):
    assert main(["bible", str(SAMPLE)]) == 0
    assert "Ava: female, 31-37" in capsys.readouterr().out
    assert main(["storyboard", str(SAMPLE), "--episode", "ep02", "--json"]) == 0
    boards = json.loads(capsys.readouterr().out)
    assert boards[0]["shots"][0]["shot_id"] == "ep02-sc005-01"


def test_bad_script_exits_2_with_the_error(tmp_path, capsys):
    bad = tmp_path / "bad.fountain"
    bad.write_bytes(b"\xff\xfe\x00\x00")
    assert main(["parse", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {bad}:1: file is binary")


def test_calibrate_sets_thresholds_at_the_equal_error_rate(tmp_path, capsys):
    assert main(["calibrate", str(SAMPLE), "--store", str(tmp_path), "--embedder", "colour", "--width", "160", "--height", "90"]) == 0
    out = capsys.readouterr().out
    assert "embedder: colour-v2" in out and "CU " in out and "EER" in out
    recorded = json.loads((tmp_path / "records" / "thresholds" / "colour_v2.json").read_text())
    assert recorded["embedder"] == "colour-v2" and set(recorded["continuity"]) >= {"CU", "MS", "ELS"}


# --- storyboard: routes, costs, reasons -------------------------------------------------------

def test_storyboard_shows_each_shots_route_cost_and_reason(capsys):
    from zipx_core.bible import extract_bibles
    from zipx_core.providers import CAPABILITIES, HOSTED
    from zipx_core.routing import Quality, plan_route
    from zipx_core.script import load_drama
    from zipx_core.storyboard import plan_episode

    board = plan_episode(load_drama(SAMPLE), "ep01", extract_bibles(load_drama(SAMPLE), "harbour_lights"), "harbour_lights")
    assert main(["storyboard", str(SAMPLE), "--episode", "ep01", "--quality", "premium"]) == 0
    out = capsys.readouterr().out.splitlines()
    routes = [plan_route(s, Quality.premium, CAPABILITIES, set(HOSTED)) for s in board.shots]
    assert out[0].startswith("ep01") and f"estimated ${sum(r.estimated_cost_usd for r in routes):.2f} at premium" in out[0]
    for shot, route, line in zip(board.shots, routes, out[1:]):
        assert line.split()[:5] == [shot.shot_id, shot.shot_type.value, f"{shot.duration_s:.2f}s", route.intended, route.intended_model]
        assert f"${route.estimated_cost_usd:>6.3f}" in line
    kling = next(line for line in out if " kling " in line)
    assert "physics and action (" in kling
    assert any(line.endswith("the cheap default") for line in out)


def test_storyboard_says_where_a_shot_falls_back_and_why(capsys):
    assert main(["storyboard", str(SAMPLE), "--episode", "ep01", "--without", "kling"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "as if kling had no key or were down"
    kling = next(line for line in out[2:] if " kling " in line)
    assert "; renders on veo3 ($" in kling and kling.endswith("): kling: no key or down")


# --- review: on the runs' store, loud on an empty home, decisions with a reviewer ----------

LAB = "INT. LAB - NIGHT\n\nMIA, 29, a tall woman with black hair, checks a monitor.\n\nMIA\nIt worked.\n"
WAITING = ["ep01-sc001-01", "ep01-sc001-02"]


def judged_episode(store, script_dir):
    """Writes to `store` what the runs leave for the lab drama: its script manifest, and an
    approved_frames manifest with two shots awaiting review and one approved."""
    from zipx_core.manifests import ManifestReader
    from zipx_core.models import Take
    from zipx_core.qa.gate import GateReport, ShotOutcome
    from zipx_core.script import load_drama

    path = script_dir / "lab.fountain"
    path.write_text(LAB)
    reader = ManifestReader(store)
    reader.save("drama_script", "lab", None, load_drama(path))

    def outcome(shot_id, status):
        take = Take(shot_id=shot_id, attempt=3, provider="local", model="m", request_hash="h", seed=1,
                    clip_uri=f"zipx://clips/00/{'0' * 64}.mp4", clip_sha256="0" * 64, frames=24, duration_s=1.0)
        reason = "continuity 0.41 below 0.80 after 3 takes" if status == "review" else "passed"
        return ShotOutcome(shot_id=shot_id, scene_number=1, status=status, take=take, attempts=3, reason=reason)

    outcomes = [outcome(s, "review") for s in WAITING] + [outcome("ep01-sc001-03", "approved")]
    reader.save("approved_frames", "lab", "ep01", GateReport(drama="lab", episode="ep01", embedder="colour-v2",
                                                            embedder_note="", verdicts=[], outcomes=outcomes))
    return reader


@pytest.fixture
def local_home(tmp_path, monkeypatch):
    for variable in ("ZIPX_S3_BUCKET", "ZIPX_HOME", "DAGSTER_HOME"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def test_review_on_a_home_with_no_zipx_data_fails_naming_it(local_home, capsys):
    wrong = local_home / "not-a-home"
    for action in (["list"], ["approve", "lab", "ep01", WAITING[0], "--by", "Ana"]):
        assert main(["review", *action, "--home", str(wrong)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: no ZipX data in {wrong}") and "--home" in err
    assert not wrong.exists()  # nothing written there


def test_review_list_approve_and_regenerate_record_the_reviewer(local_home, capsys):
    from zipx_core.qa.review import load_decisions
    from zipx_core.storage import store_from_env

    store = store_from_env(local_home)  # what the CLI opens for --home
    judged_episode(store, local_home)
    home = ["--home", str(local_home)]
    assert main(["review", "list", *home]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed == [f"lab ep01 {s}: continuity 0.41 below 0.80 after 3 takes" for s in WAITING]

    assert main(["review", "approve", "lab", "ep01", WAITING[0], "--by", "Ana", "--note", "reads fine", *home]) == 0
    assert capsys.readouterr().out.startswith(f"approve recorded for lab ep01 {WAITING[0]} by Ana")
    assert main(["review", "regenerate", "lab", "ep01", WAITING[1], *home]) == 2  # a regeneration says what to change
    assert "needs a note" in capsys.readouterr().err
    assert main(["review", "regenerate", "lab", "ep01", WAITING[1], "--note", "no black frames", "--by", "Ben", *home]) == 0
    assert main(["review", "approve", "lab", "ep01", "ep01-sc001-03", *home]) == 2  # the gate approved it already
    assert "not awaiting review" in capsys.readouterr().err

    decisions = load_decisions(store, "lab", "ep01")
    assert (decisions[WAITING[0]].reviewer, decisions[WAITING[0]].note, decisions[WAITING[0]].take.attempt) == ("Ana", "reads fine", 3)
    assert (decisions[WAITING[1]].decision, decisions[WAITING[1]].reviewer) == ("regenerate", "Ben")
    assert main(["review", "list", *home]) == 0  # still waiting until approved_frames runs, and says so
    listed = capsys.readouterr().out
    assert f"approve recorded by Ana at {decisions[WAITING[0]].decided_at}: re-materialize approved_frames" in listed


def test_review_decisions_default_to_the_user(local_home, monkeypatch, capsys):
    from zipx_core.qa.review import load_decisions
    from zipx_core.storage import store_from_env

    monkeypatch.setenv("USER", "carla")
    store = store_from_env(local_home)
    judged_episode(store, local_home)
    assert main(["review", "approve", "lab", "ep01", WAITING[0], "--home", str(local_home)]) == 0
    assert load_decisions(store, "lab", "ep01")[WAITING[0]].reviewer == "carla"
    assert main(["review", "approve", "lab", "ep01", WAITING[1], "--by", " ", "--home", str(local_home)]) == 2
    assert "say who decides: --by NAME" in capsys.readouterr().err


# --- tasks: every hosted task, video and image; release either kind ------------------------

VIDEO, IMAGE = "a" * 64, "b" * 64


def recorded_tasks(store):
    now = time.time()
    store.put_record("tasks", VIDEO, {"provider": "kling", "model": "kling-v2-6:std", "shot_id": "ep01-sc001-02",
                                      "state": "submitted", "task_id": "kt-77", "submitted_at": now - 7200})
    store.put_record("tasks", "c" * 64, {"provider": "seedance", "model": "seedance-1-0-pro-250528",
                                         "shot_id": "ep01-sc001-03", "state": "submitting"})
    store.put_record("image_tasks", IMAGE, {"provider": "gemini_image", "model": "gemini-image", "label": "ava/front",
                                            "state": "submitting"})


def test_tasks_list_shows_video_and_image_tasks(local_home, capsys):
    from zipx_core.storage import store_from_env

    recorded_tasks(store_from_env(local_home))
    assert main(["tasks", "list", "--home", str(local_home)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "3 hosted tasks: 1 submitted, 2 submitting"
    video = next(line for line in out if line.strip().startswith(VIDEO[:12]))
    assert video.split() == [VIDEO[:12], "video", "submitted", "kling", "kling-v2-6:std", "ep01-sc001-02", "kt-77", "2h"]
    image = next(line for line in out if line.strip().startswith(IMAGE[:12]))
    assert image.split() == [IMAGE[:12], "image", "submitting", "gemini_image", "gemini-image", "ava/front", "-", "-"]
    assert "zipx tasks release HASH" in out[-1]


def test_tasks_release_an_image_task_by_its_hash_prefix(local_home, capsys):
    from zipx_core.storage import store_from_env

    store = store_from_env(local_home)
    recorded_tasks(store)
    home = ["--home", str(local_home)]
    assert main(["tasks", "unknown", *home]) == 0
    unknown = capsys.readouterr().out
    assert IMAGE in unknown and "c" * 64 in unknown and VIDEO not in unknown
    assert main(["tasks", "release", IMAGE[:10], *home]) == 0
    assert capsys.readouterr().out.startswith(f"released {IMAGE}: the next run sends ava/front (on gemini_image) again")
    assert store.get_record("image_tasks", IMAGE)["state"] == "not_sent" and store.get_record("tasks", IMAGE) is None
    assert main(["tasks", "release", VIDEO, *home]) == 2  # submitted: its answer is not lost
    assert main(["tasks", "release", "c" * 4, *home]) == 2  # too short to be sure which
    assert "not a submission with an unknown outcome" in capsys.readouterr().err


def test_tasks_on_a_home_with_no_zipx_data_fails_naming_it(local_home, capsys):
    assert main(["tasks", "list", "--home", str(local_home / "elsewhere")]) == 2
    assert capsys.readouterr().err.startswith(f"error: no ZipX data in {local_home / 'elsewhere'}")


# --- run: the demo's main --------------------------------------------------------------------

def test_run_calls_the_demo_with_its_arguments(tmp_path, monkeypatch):
    import zipx_core.cli as cli

    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command, env: calls.append((command, env)) or 3)
    assert main(["run", "a.fountain", "b.fdx", "--vertical", "--music", "m.wav", "--home", str(tmp_path)]) == 3
    (command, env), = calls
    assert command == [sys.executable, "-m", "zipx_dagster.demo", "a.fountain", "b.fdx", "--music", "m.wav", "--vertical"]
    assert env["ZIPX_HOME"] == str(tmp_path.resolve())


def test_run_with_a_bad_script_exits_2(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert main(["run", str(tmp_path / "missing.fountain")]) == 2
    assert "missing.fountain: no such file or folder" in capfd.readouterr().err  # the demo's own process writes it
