"""Character bibles against hand labels (issue 14): how well each reader reads real scripts.

  .venv/bin/python bench/bible.py

The labels are tests/data/bible_labels.yaml: the main characters of every corpus script and
of a few excerpts written for what the corpus lacks, labelled by hand from the text. Per
script and in total, for each reader:
- found:  labelled characters found as exactly one character (all their cues, off-screen
          cues included, resolve to it and to no one else) / labelled;
- chars:  characters the reader made;
- merges: cue names folded into another cue's character (in brackets: folds that join two
          labelled people, or a main character and a minor one);
- gender: right / labelled male or female;
- age:    extracted range overlaps the labelled one / labelled with an age;
- voice:  voices of the character's sex ('+fN' female, '+mN' male) / labelled male or female;
- open:   labelled 'unknown' left unspecified or marked for review / labelled 'unknown'
          (a reader that guesses a gender the script never gives should say so).

A reader is a function Script -> Bibles. `--llm-scripted` adds the LLM path's column: the
real client and merge, against the local chat completions server (tests/providers_server.py)
scripted to answer what the labels say. It measures the plumbing (does what the model says
reach the bibles, voices included, with nothing paid twice), not any model's reading: no
model can be reached from here. Offline, a few seconds.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zipx_core.bible import extract_bibles  # noqa: E402
from zipx_core.bible.voices import voice_sex  # noqa: E402
from zipx_core.models import Bibles, CharacterBible, Script  # noqa: E402
from zipx_core.script import load_drama, parse_text, split_cue  # noqa: E402

LABELS = REPO / "tests" / "data" / "bible_labels.yaml"
CORPUS = REPO.parent / "shared" / "corpus" / "screenplays"

Reader = Callable[[Script], Bibles]


def rules_reader(script: Script) -> Bibles:
    return extract_bibles(script, "bench")


READERS: dict[str, Reader] = {"rules": rules_reader}


def load_labels(path: Path = LABELS) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["scripts"]


def entry_name(entry: dict) -> str:
    return entry.get("script") or entry["name"]


def load_script(entry: dict) -> Script:
    if "script" in entry:
        return load_drama(CORPUS / entry["script"])
    return parse_text(entry["text"], source=f"{entry['name']}.fountain")


def resolve(bibles: Bibles, cue: str) -> list[str]:
    """The character_ids a cue as written ('MARY'S VOICE', 'CYBER BOSS (V.O.)') speaks for:
    the cue map where it has the cue, else the characters named so or with it as an alias."""
    name = split_cue(cue)[0].upper()
    if name in bibles.cue_map:
        return sorted(bibles.cue_map[name])
    return sorted(
        c.character_id
        for c in bibles.characters
        if name == c.display_name.upper() or name in {a.upper() for a in c.aliases}
    )


def all_cues(label: dict) -> list[str]:
    return list(label["cues"]) + list(label.get("offscreen") or [])


def match(label: dict, bibles: Bibles) -> tuple[str | None, str]:
    """The one character every cue of the label resolves to, or None and why not."""
    seen = {cue: resolve(bibles, cue) for cue in all_cues(label)}
    ids = {i for found in seen.values() for i in found}
    if len(ids) == 1 and all(len(found) == 1 for found in seen.values()):
        return ids.pop(), ""
    return None, f"{label['id']}: " + ", ".join(f"{cue} -> {found or 'nobody'}" for cue, found in seen.items())


def script_cues(script: Script) -> set[str]:
    return {e.text.upper() for scene in script.scenes for e in scene.elements if e.type == "character"}


def merges_made(script: Script, bibles: Bibles) -> int:
    """Cue names folded into a character that another cue name also speaks for."""
    owners: dict[str, int] = {}
    for cue in script_cues(script):
        found = resolve(bibles, cue)
        if len(found) == 1:
            owners[found[0]] = owners.get(found[0], 0) + 1
    return sum(n - 1 for n in owners.values())


def age_bounds(age_range: str) -> tuple[int, int] | None:
    """'34-40' -> (34, 40); '8' -> (8, 8); 'adult (age not given)' -> None."""
    if span := re.search(r"(\d+)\s*-\s*(\d+)", age_range):
        return int(span.group(1)), int(span.group(2))
    if single := re.fullmatch(r"\s*(\d+)\s*", age_range):
        return int(single.group(1)), int(single.group(1))
    return None


@dataclass
class Score:
    labelled: int = 0
    found: int = 0
    characters: int = 0
    merges: int = 0
    wrong_merges: int = 0
    gender: list[int] = field(default_factory=lambda: [0, 0])
    age: list[int] = field(default_factory=lambda: [0, 0])
    voice: list[int] = field(default_factory=lambda: [0, 0])
    open: list[int] = field(default_factory=lambda: [0, 0])
    problems: list[str] = field(default_factory=list)

    def add(self, other: "Score") -> None:
        for name in ("labelled", "found", "characters", "merges", "wrong_merges"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("gender", "age", "voice", "open"):
            mine, theirs = getattr(self, name), getattr(other, name)
            mine[0], mine[1] = mine[0] + theirs[0], mine[1] + theirs[1]
        self.problems += other.problems


def matches(entry: dict, bibles: Bibles) -> dict[str, str | None]:
    """Labelled id -> the extracted character_id (None where not found as exactly one);
    two labelled people on one character are both not found."""
    found = {label["id"]: match(label, bibles)[0] for label in entry["characters"]}
    taken = [i for i in found.values() if i]
    return {k: (v if v and taken.count(v) == 1 else None) for k, v in found.items()}


def wrong_merges(entry: dict, bibles: Bibles) -> int:
    """Folds that put two labelled people (main, or a main and a minor one) on one character."""
    people: dict[str, set[str]] = {}
    for label in entry["characters"]:
        for cue in all_cues(label):
            for i in resolve(bibles, cue):
                people.setdefault(i, set()).add(label["id"])
    for cue in entry.get("others") or []:
        for i in resolve(bibles, cue):
            people.setdefault(i, set()).add(cue)
    return sum(len(who) - 1 for who in people.values())


def score_character(label: dict, character: CharacterBible | None, score: Score) -> None:
    known = label["gender"] in ("female", "male")
    if known:
        score.gender[1] += 1
        score.voice[1] += 1
    if label.get("age"):
        score.age[1] += 1
    score.open[1] += not known
    if character is None:
        return
    score.found += 1
    if not known:
        score.open[0] += character.appearance.gender == "unspecified" or "gender" in character.needs_review
    if known:
        score.gender[0] += character.appearance.gender == label["gender"]
        score.voice[0] += voice_sex(character.voice_profile.voice_id) == label["gender"]
    if known and character.appearance.gender != label["gender"]:
        score.problems.append(f"{label['id']}: gender {character.appearance.gender}, labelled {label['gender']}")
    bounds = age_bounds(character.appearance.age_range)
    if label.get("age") and bounds:
        low, high = label["age"]
        score.age[0] += bounds[0] <= high and low <= bounds[1]
    if label.get("age") and not (bounds and bounds[0] <= label["age"][1] and label["age"][0] <= bounds[1]):
        score.problems.append(f"{label['id']}: age {character.appearance.age_range!r}, labelled {label['age']}")


def score_script(entry: dict, script: Script, bibles: Bibles) -> Score:
    score = Score(labelled=len(entry["characters"]), characters=len(bibles.characters))
    score.merges = merges_made(script, bibles)
    score.wrong_merges = wrong_merges(entry, bibles)
    found = matches(entry, bibles)
    for label in entry["characters"]:
        score_character(label, bibles.character(found[label["id"]]) if found[label["id"]] else None, score)
    score.problems = [f"{entry_name(entry)}: {p}" for p in misses(entry, bibles) + score.problems]
    return score


def misses(entry: dict, bibles: Bibles) -> list[str]:
    """Why each labelled character that is not found as exactly one character is not."""
    found, reasons = matches(entry, bibles), []
    for label in entry["characters"]:
        if found[label["id"]] is None:
            character, why = match(label, bibles)
            reasons.append(why or f"{label['id']}: shares {character} with another labelled person")
    return reasons


def fraction(pair: list[int]) -> str:
    return f"{pair[0]}/{pair[1]}"


def cells(score: Score) -> list[str]:
    return [
        f"{score.found}/{score.labelled}",
        str(score.characters),
        f"{score.merges} ({score.wrong_merges})",
        fraction(score.gender),
        fraction(score.age),
        fraction(score.voice),
        fraction(score.open),
    ]


COLUMNS = ("found", "chars", "merges", "gender", "age", "voice", "open")


def print_table(rows: list[tuple[str, list[Score]]], readers: list[str]) -> None:
    width = max(len(name) for name, _ in rows)
    header = " | ".join(" ".join(f"{c:>8}" for c in COLUMNS) for _ in readers)
    print(f"{'':{width}} | " + " | ".join(f"{r:^{9 * len(COLUMNS) - 1}}" for r in readers))
    print(f"{'script':{width}} | {header}")
    for name, scores in rows:
        print(f"{name:{width}} | " + " | ".join(" ".join(f"{c:>8}" for c in cells(s)) for s in scores))


def percent(pair: list[int]) -> str:
    return f"{100 * pair[0] / pair[1]:.0f}%" if pair[1] else "n/a"


def _label_answer(label: dict, cue: str) -> dict:
    """What a model that read the script as the labeller did says of one character."""
    age = label.get("age")
    return {"cue": cue, "gender": label["gender"] if label["gender"] != "unknown" else "unspecified",
            "age_range": f"{age[0]}-{age[1]}" if age else "", "face": "", "hair": "", "hair_style": "short",
            "hair_colour": "", "skin_tone": "", "build": "average",
            "invented": ["face", "hair", "hair_colour", "skin_tone", "build"], "ages_by_scene": [], "wardrobe": [],
            "emotional_range": [], "voice": ""}


def _labels_reply(entries: dict[str, dict], body: dict) -> dict:
    """The scripted model: each listed cue that a label of this script names, answered
    from the label (the script is found by its cue list, which the request carries)."""
    user = body["messages"][1]["content"]
    cues = json.loads(user.splitlines()[0].removeprefix("Cues: "))
    for entry in entries.values():
        by_cue = {split_cue(c)[0].upper(): label for label in entry["characters"] for c in all_cues(label)}
        if set(cues) & set(by_cue) and set(cues) <= script_cues_of(entry) | set(by_cue):
            return {"characters": [_label_answer(by_cue[c], c) for c in cues if c in by_cue], "locations": []}
    return {"characters": [], "locations": []}


def script_cues_of(entry: dict) -> set[str]:
    return {split_cue(cue)[0].upper() for cue in script_cues(load_script(entry))}


@contextmanager
def scripted_llm_reader():
    """The LLM reader against the local server answering from the labels."""
    from tests.providers_server import KEYS, FakeProviders
    from zipx_core.bible.llm_reader import read_bibles_with_llm
    from zipx_core.providers.llm import LLMClient, LLMPrice, LLMSettings
    from zipx_core.storage import LocalArtifactStore

    entries = {entry_name(e): e for e in load_labels()}
    price = LLMPrice(input_usd_per_million=0.0, output_usd_per_million=0.0, as_of="bench", source="scripted server")
    with FakeProviders(llm_reply=lambda body: _labels_reply(entries, body)) as fake, \
            tempfile.TemporaryDirectory() as folder:
        client = LLMClient(LLMSettings(base_url=f"{fake.url}/v1", model="scripted", price=price), KEYS["llm"])
        store = LocalArtifactStore(folder)
        yield lambda script: read_bibles_with_llm(script, rules_reader(script), client, store)


def main(readers: dict[str, Reader] = READERS) -> None:
    entries = load_labels()
    rows, totals, seconds = [], {name: Score() for name in readers}, {name: 0.0 for name in readers}
    for entry in entries:
        script = load_script(entry)
        scores = []
        for name, reader in readers.items():
            started = time.perf_counter()
            bibles = reader(script)
            seconds[name] += time.perf_counter() - started
            scores.append(score_script(entry, script, bibles))
            totals[name].add(scores[-1])
        rows.append((entry_name(entry).removesuffix(".fountain"), scores))
    rows.append(("TOTAL", list(totals.values())))
    print(f"Character bibles against {LABELS.relative_to(REPO)}: {len(entries)} scripts, "
          f"{totals[next(iter(readers))].labelled} labelled characters")
    print_table(rows, list(readers))
    for name, total in totals.items():
        print(f"{name}: found {percent([total.found, total.labelled])}, gender {percent(total.gender)}, "
              f"age {percent(total.age)}, voice sex {percent(total.voice)}, "
              f"unknown gender left open {percent(total.open)}; {seconds[name] * 1000:.0f} ms reading")
        for problem in total.problems:
            print(f"  {name}: {problem}")


if __name__ == "__main__":
    if "--llm-scripted" in sys.argv[1:]:
        with scripted_llm_reader() as llm:
            main({**READERS, "llm (scripted)": llm})
    else:
        main()
