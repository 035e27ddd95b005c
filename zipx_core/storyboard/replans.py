"""How many times each scene of an episode has been re-planned, kept in the store so
every later plan of the episode keeps the re-plans."""


def record_replans(store, drama: str, episode: str, scenes: list[int]) -> dict[int, int]:
    record = store.get_record("replans", f"{drama}__{episode}") or {}
    for scene in scenes:
        record[str(scene)] = record.get(str(scene), 0) + 1
    if scenes:
        store.put_record("replans", f"{drama}__{episode}", record)
    return {int(scene): count for scene, count in record.items()}
