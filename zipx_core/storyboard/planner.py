"""Scenes into shots, by the conventions of coverage.

Each scene opens on an establishing shot (ELS outside, LS inside), action paragraphs
become action beats (MS, or LS when many are in frame or things move), and dialogue is
covered on the speaker, alternating MCU and CU, closer as the emotion rises.
Shot ids are `{episode}-sc{scene:03d}-{n:02d}`: the same script gives the same ids, and
re-planning one scene leaves the ids of the others alone. A re-planned scene's shots are
`{episode}-sc{scene:03d}-r{round}-{n:02d}`: the id seeds generation, so each plan is a new
request; `replan_renames` says which earlier ids each of them replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zipx_core import lexicon
from zipx_core.bible.mentions import name_pattern
from zipx_core.models import Bibles, DialogueLine, Scene, Script, Shot, ShotType, Storyboard
from zipx_core.naming import slug
from zipx_core.routing import next_provider, route_shot


@dataclass(frozen=True)
class PlanningConfig:
    """Timing rules. Speech at 2.5 words a second is a brisk but natural screen pace."""

    words_per_second: float = 2.5
    action_words_per_second: float = 3.5
    min_shot_s: float = 1.5
    max_shot_s: float = 8.0
    establishing_s: float = 3.0
    max_figures: int = 4


def emotional_intensity(text: str, parenthetical: str | None = None) -> float:
    """0..1 from the parenthetical, exclamation marks, shouting and a small lexicon.
    A parenthetical's emotion words weigh double: they are the writer's direction."""
    words = re.findall(r"[a-z']+", text.lower())
    directed = re.findall(r"[a-z']+", (parenthetical or "").lower())
    score = 0.2
    score += 0.15 * sum(1 for w in words if w in lexicon.INTENSE_WORDS)
    score += 0.3 * sum(1 for w in directed if w in lexicon.INTENSE_WORDS)
    score += min(text.count("!"), 3) * 0.12
    score += min(len(re.findall(r"\b[A-Z]{3,}\b", text)), 2) * 0.1
    score += 0.1 if "..." in text or "—" in text or "--" in text else 0.0
    return round(max(0.0, min(1.0, score)), 3)


def physics_elements(text: str) -> list[str]:
    words = set(re.findall(r"[a-z]+", text.lower()))
    return sorted(kind for kind, vocab in lexicon.PHYSICS.items() if words & set(vocab))


def _bounded(seconds: float, config: PlanningConfig) -> float:
    return round(max(config.min_shot_s, min(config.max_shot_s, seconds)), 2)


class _NameIndex:
    """Which characters an action line names (by any of their cue names, one pattern for
    all), and who speaks a cue: the bibles' cue map first, so 'JOHN AND MARY' is both of
    them and "MARY'S VOICE" is Mary. Build it once per episode: compiling is the cost."""

    def __init__(self, bibles: Bibles):
        self.id_of = {n.casefold(): c.character_id for c in bibles.characters for n in [c.display_name, *c.aliases]}
        self.order = {c.character_id: i for i, c in enumerate(bibles.characters)}
        self.by_cue = {cue.upper(): ids for cue, ids in bibles.cue_map.items()}
        for c in bibles.characters:
            for name in [c.display_name, *c.aliases]:
                self.by_cue.setdefault(name.upper(), [c.character_id])
        self.pattern = name_pattern(list(self.id_of)) if self.id_of else None

    def named_in(self, text: str) -> list[str]:
        """A name written all in lower case ('may', 'will') is a word, not the character."""
        if self.pattern is None:
            return []
        found = {self.id_of.get(m.group().casefold()) for m in self.pattern.finditer(text) if not m.group()[0].islower()}
        return sorted(found - {None}, key=self.order.__getitem__)

    def speakers(self, cue: str) -> list[str]:
        return self.by_cue.get(cue.upper(), [])


def _establishing(scene: Scene, in_scene: list[str], config: PlanningConfig) -> dict:
    """The scene's opening wide shot: where we are, and who is there."""
    first_action = next((e.text for e in scene.elements if e.type == "action"), scene.heading)
    return dict(
        shot_type=ShotType.ELS if scene.int_ext == "EXT" else ShotType.LS,
        characters=in_scene[: config.max_figures],
        action=f"Establishing: {scene.heading}. {first_action}"[:400],
        emotional_intensity=0.2,
        physics_elements=physics_elements(first_action),
        has_physics_elements=bool(physics_elements(first_action)),
        cinematic_priority=scene.int_ext == "EXT" or scene.number == 1,
        duration_s=config.establishing_s,
        source_line=scene.line,
    )


def _action(element, names: "_NameIndex", in_scene: list[str], scene: Scene, config: PlanningConfig) -> dict:
    """An action paragraph's shot: wide when it holds a crowd, a blast, a vehicle or weather."""
    text = " ".join(element.text.split())
    named = names.named_in(text)
    physics = physics_elements(text)
    wide = len(named) > 2 or bool(physics and set(physics) & {"crowd", "explosion", "vehicle", "weather"})
    return dict(
        shot_type=ShotType.LS if wide else ShotType.MS,
        characters=(named or in_scene)[: config.max_figures],
        action=text[:600],
        emotional_intensity=emotional_intensity(text),
        physics_elements=physics,
        has_physics_elements=bool(physics),
        cinematic_priority=wide and scene.int_ext == "EXT",
        duration_s=_bounded(len(text.split()) / config.action_words_per_second, config),
        source_line=element.line,
    )


def _spoken(elements: list, start: int) -> tuple[list[tuple[str, str | None, int]], int]:
    """The dialogue under a cue as (text, parenthetical, line), and where the next element is."""
    spoken, parenthetical, j = [], None, start
    while j < len(elements) and elements[j].type in ("dialogue", "parenthetical"):
        if elements[j].type == "parenthetical":
            parenthetical = elements[j].text
        else:
            spoken.append((elements[j].text, parenthetical, elements[j].line))
            parenthetical = None
        j += 1
    return spoken, j


def _dialogue(element, speakers: list[str], spoken: list[tuple[str, str | None, int]], last_speaker: str | None,
              close_next: bool, config: PlanningConfig) -> dict:
    """A cue's shot: ECU/CU when intense (or on the close beat of the alternation), else an
    MCU with the last speaker listening. A cue for several speakers ('JOHN AND MARY') gives
    each of them the line."""
    lines = [DialogueLine(character_id=cid, text=said, parenthetical=paren, line=line)
             for said, paren, line in spoken for cid in speakers or [slug(element.text)]]
    text = " ".join(said for said, _, _ in spoken)
    intensity = max(emotional_intensity(said, paren) for said, paren, _ in spoken)
    shot_type = ShotType.ECU if intensity >= 0.9 else ShotType.CU if intensity >= 0.7 or close_next else ShotType.MCU
    listener = [last_speaker] if shot_type == ShotType.MCU and last_speaker not in (None, *speakers) else []
    return dict(
        shot_type=shot_type,
        characters=[*speakers, *listener][: config.max_figures],
        speaker=speakers[0] if speakers else None,
        action=f"{element.text} {'speak' if len(speakers) > 1 else 'speaks'}."
        + (f" ({lines[0].parenthetical})" if lines[0].parenthetical else ""),
        dialogue=lines,
        emotional_intensity=intensity,
        duration_s=_bounded(len(text.split()) / config.words_per_second + 0.5, config),
        source_line=element.line,
    )


def plan_scene(scene: Scene, episode_key: str, bibles: Bibles, config: PlanningConfig = PlanningConfig(),
               names: _NameIndex | None = None) -> list[Shot]:
    names = names or _NameIndex(bibles)
    location_id = slug(scene.location)
    in_scene: list[str] = []
    for element in scene.elements:
        found = names.speakers(element.text) if element.type == "character" else (
            names.named_in(element.text) if element.type == "action" else [])
        in_scene += [cid for cid in found if cid and cid not in in_scene]

    shots: list[Shot] = []

    def add(**fields) -> None:
        shot = Shot(
            shot_id=f"{episode_key}-sc{scene.number:03d}-{len(shots) + 1:02d}",
            scene_number=scene.number,
            location_id=location_id,
            time_of_day=scene.time_of_day or "DAY",
            **fields,
        )
        shot.route = route_shot(shot)
        shots.append(shot)

    add(**_establishing(scene, in_scene, config))

    close_next = False  # alternate MCU / CU across speakers
    last_speaker: str | None = None
    elements = scene.elements
    i = 0
    while i < len(elements):
        element = elements[i]
        if element.type == "action":
            add(**_action(element, names, in_scene, scene, config))
            i += 1
        elif element.type == "character":
            speakers = names.speakers(element.text)
            speaker = speakers[0] if speakers else None
            spoken, j = _spoken(elements, i + 1)
            if spoken:
                if speaker != last_speaker:
                    close_next = not close_next
                add(**_dialogue(element, speakers, spoken, last_speaker, close_next, config))
                last_speaker = speaker
            i = j
        else:
            i += 1
    return shots


WIDER = {ShotType.ECU: ShotType.CU, ShotType.CU: ShotType.MCU, ShotType.MCU: ShotType.MS,
         ShotType.MS: ShotType.LS, ShotType.LS: ShotType.LS, ShotType.ELS: ShotType.ELS}


def _replanned_id(episode_key: str, scene_number: int, round_number: int, n: int) -> str:
    return f"{episode_key}-sc{scene_number:03d}-r{round_number}-{n:02d}"


def _replan_groups(shots: list[Shot], round_number: int, episode_key: str) -> list[list[Shot]]:
    """Each shot's re-planned parts (one, or two for a long action shot), numbered on."""
    groups: list[list[Shot]] = []
    for shot in shots:
        parts = 2 if shot.duration_s >= 4 and not shot.dialogue else 1
        first = sum(map(len, groups)) + 1
        groups.append([shot.model_copy(update={
            "shot_id": _replanned_id(episode_key, shot.scene_number, round_number, first + part),
            "characters": shot.characters[:1],
            "shot_type": WIDER[shot.shot_type],
            "duration_s": round(shot.duration_s / parts, 2),
            "route": next_provider(shot.route),
        }) for part in range(parts)])
    return groups


def replan_scene(shots: list[Shot], round_number: int, episode_key: str) -> list[Shot]:
    """A scene whose set-up failed, planned again so that what failed changes: one
    person per shot (simpler blocking), one size wider (other framing), long action
    shots split in two, and the next model in routing.FALLBACKS (another route).
    Ids carry the round, so the new shots are new requests."""
    return [part for group in _replan_groups(shots, round_number, episode_key) for part in group]


def replan_renames(shots: list[Shot], rounds: int, episode_key: str) -> dict[str, list[str]]:
    """Every id an earlier plan gave the scene's shots -> the ids they have after `rounds`
    re-plans: a first-plan shot maps to all its parts; an earlier re-plan split the same
    shots the same way, so its ids map part to part."""
    now = _replan_groups(shots, rounds, episode_key)
    renamed = {shot.shot_id: [part.shot_id for part in parts] for shot, parts in zip(shots, now)}
    current = [part for parts in now for part in parts]
    for earlier in range(1, rounds):
        renamed |= {old.shot_id: [new.shot_id] for old, new in zip(replan_scene(shots, earlier, episode_key), current)}
    return renamed


def plan_episode(script: Script, episode_key: str, bibles: Bibles, drama: str, config: PlanningConfig = PlanningConfig(),
                 replans: dict[int, int] | None = None) -> Storyboard | None:
    """The storyboard of one episode, or None when the script has no such episode.
    `replans`: scene number -> how many times it has been re-planned."""
    episode = script.episode(episode_key)
    if episode is None:
        return None
    shots, names = [], _NameIndex(bibles)
    for scene in episode.scenes:
        planned = plan_scene(scene, episode_key, bibles, config, names)
        rounds = (replans or {}).get(scene.number, 0)
        shots += replan_scene(planned, rounds, episode_key) if rounds else planned
    return Storyboard(drama=drama, episode=episode_key, title=episode.title, shots=shots)


def episode_renames(script: Script, episode_key: str, bibles: Bibles, replans: dict[int, int],
                    config: PlanningConfig = PlanningConfig()) -> dict[str, list[str]]:
    """For the whole episode: every id a re-plan retired -> the ids its shot has now."""
    episode = script.episode(episode_key)
    if episode is None or not any(replans.values()):
        return {}
    renamed, names = {}, _NameIndex(bibles)
    for scene in (s for s in episode.scenes if replans.get(s.number)):
        renamed |= replan_renames(plan_scene(scene, episode_key, bibles, config, names), replans[scene.number], episode_key)
    return renamed
