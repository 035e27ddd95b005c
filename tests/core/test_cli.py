import json

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
