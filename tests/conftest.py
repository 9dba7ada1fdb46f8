"""Shared pytest set-up: the JAX backend, and one real scoring run (score.run on
DirectRunner with the bundled pack's primary path, `plumbing_preset`, over a tiny ladder
plus one missing file) that the report, SQL, gs:// and trainer.evaluate tests read."""
import csv
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_RUN_SOURCES = ("astronaut", "testsrc2")
_RUN_CRFS = (18, 36, 51)


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory):
    """Reuse XLA executables between the tests of this session: every pipeline run and
    every trainer run loads its own model, so jax.jit traces again, and the persistent
    cache skips the identical recompiles (the bundled preset's three score paths make
    each compile several seconds)."""
    import jax

    path = str(tmp_path_factory.mktemp("jax_cache"))
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    yield
    jax.config.update("jax_compilation_cache_dir", None)


@pytest.fixture(scope="session")
def plumbing_preset(tmp_path_factory):
    """The bundled pack's primary alone, saved as a preset: its trained weights and the
    pack's geometry (K = 8 key frames each read with the next frame, M = 256 × 2
    views), one score path instead of three (about 2.5× cheaper to score). For tests of
    what the pipelines do around the scores (tables, failures, re-runs, segments,
    reports); the bundled preset itself runs in test_score, test_bundled_model, test_demo
    and the CLI tests."""
    from cpllm_model import CPLLM

    path = str(tmp_path_factory.mktemp("presets") / "cpllm_tiny_primary")
    CPLLM.from_preset("cpllm_tiny", own_run_only=True).save_to_preset(path)
    return path


@pytest.fixture(scope="session")
def pipeline_output(tmp_path_factory, plumbing_preset):
    """Output dir of `beam_pipelines.score` for 2 sources x 3 CRFs (96x64, 1 s, 8 fps)
    and one catalog row whose file does not exist (a failure at stage "read")."""
    from beam_pipelines import score
    from beam_pipelines.media import samples

    root = tmp_path_factory.mktemp("eval_run")
    rows = []
    for source in _RUN_SOURCES:
        master = samples.make_clip(str(root / f"{source}.mkv"), source, seconds=1.0,
                                   size=(96, 64), fps=8)
        rows += samples.make_ladder(master, str(root / source), list(_RUN_CRFS),
                                    source_id=source, preset="ultrafast")
    rows.append({"video_id": "gone", "uri": str(root / "gone.mp4")})
    catalog = root / "catalog.csv"
    with open(catalog, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    out = str(root / "out")
    score.run(["--catalog", str(catalog), "--output_dir", out, "--model", plumbing_preset])
    return out
