"""The source generator: `media.procedural.render` is deterministic and draws real
pictures for every family and motion; `sources.run` (DirectRunner) writes lossless masters
and a catalog that `beam_pipelines.ladder` encodes with each source's own CRFs/preset."""
import csv
import glob
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from beam_pipelines import sources
from beam_pipelines.media import probe, procedural

W, H, N = 96, 64, 4


def _spec(family, motion, seed=7, **kw):
    spec = {"family": family, "motion": motion, "width": W, "height": H, "frames": N,
            "seed": seed, "noise": 0.0, "grain": 0.0, "blur": 0, "speed": 1.0,
            "picture": "coffee" if family == "photo" else ""}
    spec.update(kw)
    return spec


@pytest.mark.parametrize("family", (*procedural.FAMILIES, *procedural.EXTRA_FAMILIES))
def test_render_is_deterministic_and_not_flat(family):
    spec = _spec(family, "pan", noise=0.02 if family == "photo" else 0.0)
    a = procedural.render(spec)
    assert a.shape == (N, H, W, 3) and a.dtype == np.uint8
    assert a.tobytes() == procedural.render(dict(spec)).tobytes()
    assert a.tobytes() != procedural.render(dict(spec, seed=8)).tobytes()
    # every family draws a picture, not a constant (gradients vary smoothly)
    assert a[0].astype(np.float32).std() > 1.0
    assert len(np.unique(a[0].reshape(-1, 3), axis=0)) > 10


@pytest.mark.parametrize("motion", procedural.MOTIONS)
def test_render_motions_are_deterministic(motion):
    spec = _spec("cartoon", motion, blur=2 if motion != "static" else 0, grain=0.015)
    a = procedural.render(spec)
    assert a.shape == (N, H, W, 3)
    assert a.tobytes() == procedural.render(dict(spec)).tobytes()
    if motion != "static":  # the camera or the sprites move
        still = procedural.render(dict(spec, grain=0.0))
        assert not np.array_equal(still[0], still[-1])


def test_sources_run_writes_masters_the_ladder_accepts(tmp_path, monkeypatch):
    from beam_pipelines import ladder

    real_plan = sources.plan

    def small_plan(num_train, num_holdout, seed=0, frames=20, **kwargs):
        specs = real_plan(num_train, num_holdout, seed, frames, **kwargs)
        for s in specs:  # the same specs at a tiny frame size
            s.update(width=W, height=H)
        specs[-1].update(family="lavfi", motion="generated", generator="testsrc2",
                         picture="")  # ffmpeg's own generator path too
        return specs

    monkeypatch.setattr(sources, "plan", small_plan)
    out = tmp_path / "sources"
    sources.run([f"--output_dir={out}", "--num_train=2", "--num_holdout=1", "--seed=0",
                 f"--frames={N}", "--fps=4"])
    with open(out / "catalog.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert list(rows[0]) == list(sources.CSV_COLUMNS)
    assert sorted(r["split"] for r in rows) == ["holdout", "train", "train"]
    want = {r["source_id"]: [int(c) for c in r["ladder_crfs"].split(";")] for r in rows}
    for r in rows:
        assert os.path.exists(r["uri"]) and r["uri"].endswith(".mkv")
        info = probe.probe(r["uri"])
        assert (info.width, info.height) == (W, H)
    failures = glob.glob(str(out / "failures" / "*.parquet"))
    assert sum(pq.read_table(f).num_rows for f in failures) == 0

    ladder_dir = tmp_path / "ladder"
    ladder.run([f"--catalog={out / 'catalog.csv'}", f"--output_dir={ladder_dir}",
                "--label=vmaf", "--crfs=10"])
    with open(ladder_dir / "catalog.csv", newline="") as f:
        renditions = list(csv.DictReader(f))
    got = {}
    for r in renditions:
        if r["crf"] != "":
            got.setdefault(r["source_id"], []).append(int(r["crf"]))
    assert {k: sorted(v) for k, v in got.items()} == want  # per-source rungs, not --crfs
    assert all(r["vmaf"] != "" for r in renditions if r["crf"] != "")
