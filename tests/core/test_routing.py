"""The router honours the route the storyboard planned, a re-plan's included, and a
re-plan moves a shot to the first fallback of routing.FALLBACKS (one table)."""

from zipx_core.providers import CAPABILITIES
from zipx_core.routing import FALLBACKS, WIDE, Quality, plan_route, route_shot
from zipx_core.storyboard import plan_episode
from zipx_core.storyboard.planner import replan_scene

ALL = {"veo3", "kling", "seedance", "happyhorse"}


def test_a_replanned_cinematic_wide_shot_goes_where_its_plan_says(sample_script, sample_bibles):
    board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    shot = next(s for s in board.shots if s.shot_type in WIDE and not s.has_physics_elements)
    wide = shot.model_copy(update={"cinematic_priority": True, "route": "veo3"})  # as the planner routes a cinematic wide shot
    assert route_shot(wide) == "veo3"
    moved = replan_scene([wide], 1, "ep01")[0]
    assert route_shot(moved) == "veo3"  # the policy alone would still send it to Veo 3
    assert moved.route == FALLBACKS["veo3"][0]
    route = plan_route(moved, Quality.balanced, CAPABILITIES, ALL)
    assert (route.intended, route.provider) == (moved.route, moved.route)
    # without a key for the planned model, it falls back from the plan, not from the policy
    fallback = plan_route(moved, Quality.balanced, CAPABILITIES, ALL - {moved.route})
    assert (fallback.intended, fallback.provider) == (moved.route, FALLBACKS[moved.route][0])


def test_a_shot_without_a_planned_route_takes_the_policys(sample_script, sample_bibles):
    board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    unplanned = board.shots[0].model_copy(update={"route": "local"})  # the field's default: planned before routes were kept
    assert plan_route(unplanned, Quality.draft, CAPABILITIES, ALL).intended == route_shot(unplanned)
