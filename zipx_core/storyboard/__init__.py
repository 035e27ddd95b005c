from zipx_core.storyboard.planner import PlanningConfig, emotional_intensity, physics_elements, plan_episode, plan_scene

__all__ = ["PlanningConfig", "emotional_intensity", "physics_elements", "plan_episode", "plan_scene"]
