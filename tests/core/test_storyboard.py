import time

import pytest

from zipx_core.models import ShotType
from zipx_core.prompting import build_request, compose_prompt
from zipx_core.routing import route_shot
from zipx_core.storyboard import PlanningConfig, emotional_intensity, physics_elements, plan_episode


@pytest.fixture(scope="module")
def boards(sample_script, sample_bibles):
    return [plan_episode(sample_script, e.key, sample_bibles, "harbour_lights") for e in sample_script.episodes]


def test_every_scene_opens_wide_and_covers_its_dialogue(sample_script, boards):
    shots = [s for b in boards for s in b.shots]
    for scene in sample_script.scenes:
        scene_shots = [s for s in shots if s.scene_number == scene.number]
        assert scene_shots[0].shot_type == (ShotType.ELS if scene.int_ext == "EXT" else ShotType.LS)
        spoken = [e.text for e in scene.elements if e.type == "dialogue"]
        assert [line.text for s in scene_shots for line in s.dialogue] == spoken
    for shot in shots:
        if shot.dialogue:
            assert shot.shot_type in (ShotType.MCU, ShotType.CU, ShotType.ECU)
            assert shot.speaker == shot.characters[0]


def test_durations_follow_dialogue_within_bounds(boards):
    config = PlanningConfig()
    for shot in (s for b in boards for s in b.shots):
        assert config.min_shot_s <= shot.duration_s <= config.max_shot_s
        if shot.dialogue:
            words = sum(len(line.text.split()) for line in shot.dialogue)
            assert shot.duration_s == pytest.approx(min(max(words / 2.5 + 0.5, 1.5), 8.0), abs=0.01)


def test_ids_are_stable(sample_script, sample_bibles, boards):
    again = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    assert [s.shot_id for s in again.shots] == [s.shot_id for s in boards[0].shots]
    assert boards[0].shots[0].shot_id == "ep01-sc001-01"
    assert len({s.shot_id for b in boards for s in b.shots}) == sum(len(b.shots) for b in boards)


def test_missing_episode_is_none(sample_script, sample_bibles):
    assert plan_episode(sample_script, "ep09", sample_bibles, "harbour_lights") is None


def test_intensity_and_physics():
    calm = emotional_intensity("The kettle is on.")
    assert calm < emotional_intensity("Leo! Grab the line!") < emotional_intensity("Never again!", "crying")
    assert emotional_intensity("NO! NO! NO! I hate you, I hate this!", "screaming") == 1.0
    assert physics_elements("Huge waves crash over the bow; the boat burns.") == ["fire", "vehicle", "water"]
    assert physics_elements("She smiles.") == []


def test_router_follows_the_seed_policy(boards):
    for shot in (s for b in boards for s in b.shots):
        assert shot.route == route_shot(shot)
    routes = {s.route for b in boards for s in b.shots}
    assert {"kling", "seedance"} <= routes


def test_a_shot_longer_than_its_model_makes_is_costed_alike_everywhere(boards):
    """The router's estimate and the 'all on one model' figure price a shot one way: a
    12 s shot on Veo 3 (8 s at most) costs 12 s of Veo 3, not 8."""
    from zipx_core.providers import CAPABILITIES
    from zipx_core.routing import DEFAULT_PRICES, MODELS, Quality, all_on, cost, plan_route

    wide = next(s for b in boards for s in b.shots if s.shot_type in (ShotType.ELS, ShotType.LS) and not s.has_physics_elements)
    shot = wide.model_copy(update={"duration_s": 12.0, "cinematic_priority": True, "route": "veo3"})  # planned for Veo 3
    route = plan_route(shot, Quality.balanced, CAPABILITIES, {"veo3", "kling", "seedance", "happyhorse"})
    model, resolution = MODELS["veo3"][Quality.balanced]
    assert route.provider != "veo3" and "longer than its 8s" in route.reason
    assert route.estimated_cost_usd == all_on("veo3", shot, Quality.balanced, CAPABILITIES) == cost("veo3", model, resolution, 12.0, DEFAULT_PRICES)


def test_prompt_carries_the_bible_entries(sample_bibles, boards):
    shot = next(s for s in boards[0].shots if len(s.characters) >= 2)
    prompt = compose_prompt(shot, sample_bibles)
    place = sample_bibles.location(shot.location_id)
    assert place.name in prompt and place.lighting_palette.mood in prompt and place.camera_style.lens in prompt
    for character_id in shot.characters:
        c = sample_bibles.character(character_id)
        assert c.display_name in prompt and c.appearance.hair_color in prompt
        assert c.outfit_for(shot.scene_number).description in prompt
    request = build_request(shot, sample_bibles, 320, 180)
    assert [f.character_id for f in request.figures] == shot.characters
    assert request.seed == build_request(shot, sample_bibles, 320, 180).seed


def test_a_long_episode_plans_in_well_under_a_second(corpus):
    from zipx_core.bible import extract_bibles
    from zipx_core.script import parse_script

    script = parse_script(corpus / "The-Last-Birthday-Card.fountain")  # 48 scenes
    bibles = extract_bibles(script, "birthday")
    started = time.perf_counter()
    boards = [plan_episode(script, e.key, bibles, "birthday") for e in script.episodes]
    assert sum(len(b.shots) for b in boards) > 150
    assert time.perf_counter() - started < 5  # a sanity bound only; bench/spine.py measures


def test_replanning_changes_what_failed(sample_script, sample_bibles):
    from zipx_core.storyboard.planner import WIDER

    plain = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    again = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights", replans={2: 1})
    before = [s for s in plain.shots if s.scene_number == 2]
    after = [s for s in again.shots if s.scene_number == 2]
    assert [s for s in again.shots if s.scene_number != 2] == [s for s in plain.shots if s.scene_number != 2]
    assert all(s.shot_id.startswith("ep01-sc002-r1-") and len(s.characters) <= 1 for s in after)
    assert after[0].shot_type == WIDER[before[0].shot_type]
    assert len(after) > len(before)  # long action beats split in two
    assert sum(s.duration_s for s in after) == pytest.approx(sum(s.duration_s for s in before), abs=0.05)
    assert {s.route for s in after} != {s.route for s in before} or all(s.route == "local" for s in before)
