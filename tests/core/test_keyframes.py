"""Still sources and keyframes: the offline drawer's keyframes judged like hosted ones;
a hosted image model's stills made once, resumed after a crash from the saved task id,
never re-sent after a lost answer, charged by stage, and stopped by the budget."""

import dataclasses
import io

import pytest
from PIL import Image

from zipx_core.generation import GenerationSettings
from zipx_core.keyframes import KeyframeMaker, keyframe_ask, offline_setup
from zipx_core.prompting import build_request, shot_requests
from zipx_core.providers.base import TaskFailed
from zipx_core.providers.images.base import ImageProvider
from zipx_core.qa.checks import Thresholds
from zipx_core.qa.embeddings import ColourEmbedder
from zipx_core.qa.references import make_references
from zipx_core.stills import HostedStills, LocalStills, StillFailed
from zipx_core.storage import LocalArtifactStore
from zipx_core.storyboard import plan_episode

WIDTH, HEIGHT = 160, 90


@pytest.fixture(scope="module")
def world(tmp_path_factory, sample_script, sample_bibles):
    store = LocalArtifactStore(tmp_path_factory.mktemp("keyframes"))
    board = plan_episode(sample_script, "ep01", sample_bibles, "harbour_lights")
    references = make_references(sample_bibles, [board], store, WIDTH, HEIGHT)
    return store, board, references


def test_offline_keyframes_are_drawn_judged_and_become_first_frames(world, sample_bibles):
    store, board, references = world
    requests = shot_requests(board, sample_bibles, WIDTH, HEIGHT)
    maker = KeyframeMaker(sample_bibles, references, store, LocalStills(store), ColourEmbedder(), Thresholds(), setup=offline_setup())
    made = maker.run(board, requests)
    assert [k.shot_id for k in made.keyframes] == [s.shot_id for s in board.shots]
    assert all(k.uri and k.attempts == 1 and k.source == "local" and k.cost_usd == 0 for k in made.keyframes)

    # a keyframe that shows someone else is caught: the stand-in for a drifted image
    strict = Thresholds(continuity={t: 0.99 for t in Thresholds().continuity})
    wrong = KeyframeMaker(sample_bibles, references, store, SwappedStills(store), ColourEmbedder(), strict, max_attempts=2)
    judged = wrong.run(board, requests)
    failed = [k for k in judged.keyframes if not k.uri]
    assert failed and all(k.attempts == 2 and k.reason.startswith("no keyframe passed continuity in 2 attempts") for k in failed)
    with_keyframes = shot_requests(board, sample_bibles, WIDTH, HEIGHT, keyframes=made, references=references)
    first = next(r for r in with_keyframes if r.keyframe_uri and r.figures)
    assert first.reference_frames and set(first.reference_frames) <= {u for us in references.characters.values() for u in us}


class SwappedStills(LocalStills):
    """Draws each keyframe with its people's looks swapped for another character's."""

    def make(self, asks):
        other = {f.character_id: f for a in asks for f in a.request.figures}
        swapped = []
        for ask in asks:
            figures = [next((o for cid, o in other.items() if cid != f.character_id), f) for f in ask.request.figures]
            swapped.append(dataclasses.replace(ask, request=ask.request.model_copy(update={"figures": figures})))
        return super().make(swapped)


class ScriptedImages(ImageProvider):
    """An image API in process: a task per submission, answers scripted per call."""

    name, max_reference_images, download_hosts = "scripted", 4, ("127.0.0.1",)
    submitted: list = []
    crash_after_task_id = False
    fail_with: Exception | None = None

    def __init__(self):
        super().__init__("key", base_url="http://127.0.0.1:1", prices={"m": 0.04})

    async def generate(self, job, on_task_id):
        ScriptedImages.submitted.append(job)
        await on_task_id(f"task-{len(ScriptedImages.submitted)}")
        if ScriptedImages.crash_after_task_id:
            raise KeyboardInterrupt  # the process dies while polling
        if ScriptedImages.fail_with:
            raise ScriptedImages.fail_with
        return _png(len(job.references))

    async def resume(self, task_id):
        return _png(0)


def _png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (WIDTH, HEIGHT), (40 * shade % 255, 90, 120)).save(out, format="PNG")
    return out.getvalue()


def _hosted(store, budget=None):
    return HostedStills(ScriptedImages, "scripted", "m", store, "harbour_lights",
                        GenerationSettings(budget_drama_usd=budget))


def test_hosted_stills_are_made_once_resumed_never_resent_and_charged_by_stage(world, sample_bibles):
    store, board, references = world
    request = build_request(next(s for s in board.shots if s.characters), sample_bibles, WIDTH, HEIGHT)
    ask = keyframe_ask(request, sample_bibles, references, 1, "ep01")
    assert [name for name, _ in ask.references][-1].startswith("the location ") and len(ask.references) >= 2
    ScriptedImages.submitted, ScriptedImages.crash_after_task_id, ScriptedImages.fail_with = [], True, None
    with pytest.raises(KeyboardInterrupt):
        _hosted(store).make([ask])
    assert store.get_record("image_tasks", ask.digest("scripted:m"))["task_id"] == "task-1"  # saved before polling
    ScriptedImages.crash_after_task_id = False
    (made,) = _hosted(store).make([ask])  # resumed from the task id: nothing submitted again
    assert len(ScriptedImages.submitted) == 1 and made.cost_usd == 0.04
    (again,) = _hosted(store).make([ask])
    assert again.cached and again.uri == made.uri and len(ScriptedImages.submitted) == 1
    charges = store.get_record("spend", "harbour_lights")["charges"]
    assert [(c["stage"], c["episode"], c["usd"]) for c in charges.values()] == [("keyframe", "ep01", 0.04)]

    # an answer lost after sending: never sent again, the way out named
    lost = keyframe_ask(request, sample_bibles, references, 2, "ep01")
    store.put_record("image_tasks", lost.digest("scripted:m"), {"state": "submitting"})
    (failure,) = _hosted(store).make([lost])
    assert isinstance(failure, StillFailed) and "zipx tasks release" in str(failure) and len(ScriptedImages.submitted) == 1

    # a failed task is a failed still, not a crash; a spent budget stops every ask
    ScriptedImages.fail_with = TaskFailed("scripted", "task failed: render error")
    (failed,) = _hosted(store).make([keyframe_ask(request, sample_bibles, references, 3, "ep01")])
    assert isinstance(failed, StillFailed) and "render error" in str(failed) and not failed.stops
    ScriptedImages.fail_with = None
    broke = _hosted(store, budget=0.05).make([keyframe_ask(request, sample_bibles, references, 4, "ep01")])
    assert isinstance(broke[0], StillFailed) and broke[0].stops and "budget" in str(broke[0])
