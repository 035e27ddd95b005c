"""The judge's retake rounds, shared between its own process and the inspecting one: the
same verdicts as judging each take alone, in the batch's order, round after round; a
failure raised and the inspecting process ended. And the exact sums the faster decoding
and checks rest on. (Speed itself is measured by bench/qa_throughput.py, not here.)"""

import time

import numpy as np
import pytest

from zipx_core.generation import RenderSettings, generate_shots
from zipx_core.media import encode_frames
from zipx_core.prompting import build_request
from zipx_core.providers.local import FailureModes, LocalRenderer
from zipx_core.qa import checks, judge as judge_module
from zipx_core.qa.checks import LUMA, Thresholds
from zipx_core.qa.decode import all_frames, sample_take
from zipx_core.qa.embeddings import ColourEmbedder
from zipx_core.qa.judge import Judge, claim
from zipx_core.qa.references import make_references
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode

SETTINGS = RenderSettings(width=320, height=180, workers=2)
FAILURES = FailureModes(drift=0.2, colour_cast=0.15, blur=0.1, low_resolution=0.1, black_frames=0.1, frozen=0.1)


@pytest.fixture(scope="module")
def world(tmp_path_factory, sample_script, sample_bibles):
    """The first episode's takes, every failure mode injected somewhere."""
    store = LocalArtifactStore(tmp_path_factory.mktemp("judge"))
    board = plan_episode(sample_script, sample_script.episodes[0].key, sample_bibles, "harbour_lights")
    references = make_references(sample_bibles, [board], store, SETTINGS.width, SETTINGS.height)
    made = generate_shots(board, sample_bibles, store, SETTINGS, renderer=LocalRenderer(failures=FAILURES))
    takes = {t.shot_id: t for t in made.takes}
    batch = [(takes[s.shot_id], build_request(s, sample_bibles, SETTINGS.width, SETTINGS.height, SETTINGS.fps)) for s in board.shots]
    return store, references, batch


def verdicts(judged) -> list[dict]:
    """Without a graded or upscaled take's clip: ffmpeg's re-encoding of the same frames
    is not always the same file (seen: two different ones in 30 runs), whoever judged it."""
    return [verdict.model_dump(exclude={"clip_uri"} if verdict.fixed else None) for verdict, _ in judged]


@pytest.fixture
def shared_rounds(monkeypatch):
    """Counts, in the rounds judged shared: their chunks, those inspected here and those
    the inspecting process answered (it answers None for a chunk claimed here)."""
    counts = {"rounds": 0, "chunks": 0, "here": 0, "there": 0}
    judge_shared, inspect_here, result = Judge._judge_shared, Judge._inspect_here, judge_module.Inspector.result

    def counting_round(self, chunks):
        counts["rounds"] += 1
        counts["chunks"] += len(chunks)
        self.sharing = True
        try:
            return judge_shared(self, chunks)
        finally:
            self.sharing = False

    def counting_inspection(self, jobs):
        counts["here"] += getattr(self, "sharing", False)
        return inspect_here(self, jobs)

    def counting_answer(self):
        answer = result(self)
        counts["there"] += answer is not None
        return answer

    monkeypatch.setattr(Judge, "_judge_shared", counting_round)
    monkeypatch.setattr(Judge, "_inspect_here", counting_inspection)
    monkeypatch.setattr(judge_module.Inspector, "result", counting_answer)
    return counts


def wait_until_up(judge: Judge, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not judge._inspector.started():
        assert time.monotonic() < deadline, "the inspecting process did not start"
        time.sleep(0.05)


def test_retake_rounds_shared_between_processes_judge_as_each_take_alone(world, shared_rounds):
    store, references, batch = world
    assert len(batch) > 3 * judge_module.SHARED_CHUNK
    alone = Judge(references, store, ColourEmbedder(), SETTINGS, Thresholds())
    one_by_one = verdicts([alone([pair])[0] for pair in batch])  # a take at a time: no inspecting process, no sharing
    alone.close()
    assert shared_rounds["rounds"] == 0

    judge = Judge(references, store, ColourEmbedder(), SETTINGS, Thresholds())
    try:
        first = verdicts(judge(batch))  # set-ups met in order
        wait_until_up(judge)  # as it is by a retake round, after the retakes' generation
        shared_rounds["there"] = 0
        retake = verdicts(judge(batch))  # every set-up known: shared
        smaller = verdicts(judge(batch[3:10]))  # another round after it: no answer of the last one left behind
    finally:
        judge.close()
    assert shared_rounds["rounds"] == 2 and shared_rounds["here"] > 0 and shared_rounds["there"] > 0
    assert shared_rounds["here"] + shared_rounds["there"] == shared_rounds["chunks"]  # each chunk once
    assert first == one_by_one
    assert retake == one_by_one
    assert smaller == one_by_one[3:10]
    # the rare paths ride along: graded and upscaled takes, and discards at every stage
    assert {fix for v in one_by_one for fix in v["fixed"]} == {"graded", "upscaled"}
    assert {s["stage"] for v in one_by_one for s in v["stages"] if not s["passed"]} >= {"continuity", "blur", "frozen", "black_frames"}


def test_a_failure_in_a_shared_round_is_raised_and_ends_the_inspecting_process(world):
    store, references, batch = world
    judge = Judge(references, store, ColourEmbedder(), SETTINGS, Thresholds())
    judge(batch)
    wait_until_up(judge)
    process = judge._inspector.process
    missing = batch[0][0].model_copy(update={"clip_uri": "clips/never-made.mp4"})
    broken = [*batch[:1], (missing, batch[0][1]), *batch[1:]]
    with pytest.raises(Exception):
        judge(broken)
    assert judge._inspector is None and process.wait(timeout=10) is not None
    judge.close()


def test_a_chunk_is_claimed_once(tmp_path):
    assert claim(str(tmp_path), 3)
    assert not claim(str(tmp_path), 3)
    assert claim(str(tmp_path), 2)


@pytest.mark.parametrize("width, height", [(320, 180), (330, 186), (360, 640), (200, 112)])
def test_mean_luma_is_exact_at_any_width(tmp_path, width, height):
    """Each frame's mean luma is the mean over its RGB frame, from exact integer channel
    sums: at 330 px the decoder's rows are padded; at 360 and 200 this FFmpeg's planar RGB
    leaves the last columns unwritten, and the packed frame is read instead."""
    rng = np.random.default_rng(7)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(12)]
    path = tmp_path / "take.mp4"
    encode_frames(frames, path, width, height, 24)
    sampled, size = sample_take(path, Thresholds().black_luma)
    pixels = width * height
    expected = [float(np.array([int(f[..., c].sum(dtype=np.uint64)) for c in range(3)]) @ LUMA) / pixels for f in all_frames(path)]
    assert size == (width, height)
    assert sampled.means.tolist() == expected


def test_mean_difference_is_the_int16_mean():
    rng = np.random.default_rng(3)
    a, b = (rng.integers(0, 256, (180, 320, 3), dtype=np.uint8) for _ in range(2))
    a[:10], b[:10] = 0, 255  # both extremes
    for x, y in ((a, b), (b, a), (a, a)):
        assert checks._mean_difference(x, y) == float(np.abs(x.astype(np.int16) - y.astype(np.int16)).mean())


def test_set_ups_drawn_for_one_chunk_serve_the_chunks_sent_with_it(world):
    """The inspecting process gets a first round's chunks at once: a set-up it drew for one
    is known to the next without being drawn again, nor its stills sent twice."""
    store, references, batch = world
    judge = Judge(references, store, ColourEmbedder(), SETTINGS, Thresholds())
    jobs = judge._jobs(batch)  # nothing known yet
    keys = [key for _, _, key, _, _ in jobs]
    shared = next(key for index, key in enumerate(keys) if key in keys[:index])  # a set-up met twice
    first, again = [job for job in jobs if job[2] == shared][:2]
    drawn = {}
    [one] = judge_module.inspect_chunk([first], Thresholds(), drawn)
    [two] = judge_module.inspect_chunk([again], Thresholds(), drawn)
    assert one.stills is not None and two.stills is None
    assert two.stats is one.stats and set(drawn) == {shared}
