"""What re-plans did to an episode, kept in the store: how many times each scene has been
re-planned (so every later plan of the episode keeps the re-plans), and which ids the
re-planned shots replaced (so a decision or a link given on an old id can be followed).

A re-planned shot gets a new id on purpose: the id seeds its generation, so a new plan
is a new request, and a take of the old plan can never stand in for a shot of the new.
The mapping is how people's references survive that."""

from zipx_core.records import Records


def record_replans(store, drama: str, episode: str, scenes: list[int]) -> dict[int, int]:
    replans = Records(store).replans(drama, episode)
    record = replans.get() or {}
    for scene in scenes:
        record[str(scene)] = record.get(str(scene), 0) + 1
    if scenes:
        replans.put(record)
    return {int(scene): count for scene, count in record.items()}


def record_renames(store, drama: str, episode: str, renamed: dict[str, list[str]]) -> None:
    """Every earlier id of a re-planned shot -> its ids now (the planner's replan_renames)."""
    if renamed != load_renames(store, drama, episode):
        Records(store).renamed_shots(drama, episode).put(renamed)


def load_renames(store, drama: str, episode: str) -> dict[str, list[str]]:
    return Records(store).renamed_shots(drama, episode).get() or {}


def current_ids(store, drama: str, episode: str, shot_id: str) -> list[str]:
    """The ids a shot has now: itself, or the shots a re-plan made of it."""
    return load_renames(store, drama, episode).get(shot_id, [shot_id])
