from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
SCREENPLAYS = CORPUS / "screenplays"
SAMPLE = REPO / "examples" / "harbour_lights.fountain"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not SCREENPLAYS.is_dir():
        pytest.fail(f"the shared corpus is missing: expected {SCREENPLAYS} beside the checkout")
    return SCREENPLAYS


@pytest.fixture(scope="session")
def sample_script():
    from zipx_core.script import load_drama

    return load_drama(SAMPLE)


@pytest.fixture(scope="session")
def sample_bibles(sample_script):
    from zipx_core.bible import extract_bibles

    return extract_bibles(sample_script, "harbour_lights")
