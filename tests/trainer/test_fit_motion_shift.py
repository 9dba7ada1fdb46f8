"""trainer.fit_motion_shift: the motion measure on real video, the fit, the shift."""
import csv

import numpy as np

from trainer import fit_motion_shift as fms


def test_fit_recovers_a_known_shift_and_zero_is_the_identity():
    rng = np.random.default_rng(0)
    score = rng.uniform(5, 95, 200)
    activity = rng.uniform(0, 10, 200)
    vmaf = fms.shifted(score, activity, -0.3, 0.2)
    w, c = fms.fit(score, activity, vmaf)
    assert abs(w + 0.3) < 1e-4 and abs(c - 0.2) < 1e-4
    np.testing.assert_allclose(fms.shifted(score, activity, 0.0, 0.0), score, rtol=1e-12)
    assert np.all((vmaf > 0) & (vmaf < 100))


def test_a_still_video_has_no_activity_and_a_moving_one_has_some(tmp_path):
    from beam_pipelines.media import ffmpeg_bin

    paths = {}
    for name, source in (("still", "color=c=gray:s=96x64:d=1:r=8"),
                         ("moving", "testsrc2=s=96x64:d=1:r=8")):
        paths[name] = str(tmp_path / f"{name}.mp4")
        ffmpeg_bin.run(["-y", "-f", "lavfi", "-i", source, "-c:v", "libx264", "-preset",
                        "ultrafast", "-pix_fmt", "yuv420p", paths[name]], timeout_s=60,
                       check=True)
    assert fms.activity_of(paths["still"]) == 0.0
    moving = fms.activity_of(paths["moving"])
    assert moving > 1.0
    # Shifting scores: only the videos the catalog has; the still one by c alone.
    catalog = tmp_path / "catalog.csv"
    with open(catalog, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"])
        w.writeheader()
        w.writerows([{"video_id": k, "uri": v, "source_id": k, "crf": 30}
                     for k, v in paths.items()])
    out = str(tmp_path / "shifted.parquet")
    scores = {"still": 50.0, "moving": 50.0, "unknown": 40.0}
    assert fms.apply_shift(scores, str(catalog), -0.5, 0.4, out) == 2
    got = fms.read_scores(out)
    assert set(got) == {"still", "moving"}
    assert np.isclose(got["still"], 100 / (1 + np.exp(-0.4)))
    assert np.isclose(got["moving"], fms.shifted(50.0, moving, -0.5, 0.4))


def test_calibration_rows_are_the_renditions_of_the_first_sources(tmp_path):
    path = tmp_path / "catalog.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"])
        w.writeheader()
        for s in ("b", "a", "c"):
            w.writerow({"video_id": s, "uri": f"{s}.mkv", "source_id": s, "crf": ""})
            for crf in (20, 30):
                w.writerow({"video_id": f"{s}{crf}", "uri": f"{s}{crf}.mp4",
                            "source_id": s, "crf": crf})
    assert [r["video_id"] for r in fms.calibration_rows(str(path), 2)] == [
        "b20", "b30", "a20", "a30"]
    assert len(fms.calibration_rows(str(path))) == 6


def test_cli_writes_the_calibration_catalog_and_checks_its_flags(tmp_path):
    import pytest
    from absl import app

    from trainer import eval_families  # noqa: F401  both modules in one process

    path = tmp_path / "catalog.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"])
        w.writeheader()
        w.writerows([{"video_id": f"s{i}", "uri": f"s{i}.mp4", "source_id": f"s{i}",
                      "crf": 30} for i in range(3)])
    out = tmp_path / "calib.csv"
    assert fms.run(str(path), max_sources=2, write_catalog=str(out)) is None
    with open(out, newline="") as f:
        assert [r["video_id"] for r in csv.DictReader(f)] == ["s0", "s1"]
    with pytest.raises(app.UsageError, match="--scores"):
        fms.run(str(path))
    with pytest.raises(app.UsageError, match="--apply_catalog"):
        fms.run(str(path), scores="x", apply_to="y")


def test_fit_on_records_reads_scores_and_frame_pairs_from_the_records(tiny_preset,
                                                                      tiny_pair_data):
    from cpllm_model import CPLLM, motion_shift
    from trainer import input_pipeline

    score, activity, vmaf = fms.records_fit_data(tiny_preset, tiny_pair_data, "train")
    split = input_pipeline.load_split(tiny_pair_data, "train")
    assert len(score) == len(split.label) == 6  # 2 sources x 3 CRFs, all with VMAF
    np.testing.assert_allclose(
        activity, np.asarray(motion_shift.activity(split.frames["high_frames"], 2)),
        rtol=1e-6)
    assert activity.min() > 0.0  # generator patterns move from frame to frame
    # The preset (one-frame view) scores the pairs' key frames as it scores them alone.
    plain = CPLLM.from_preset(tiny_preset)
    keys = dict(split.frames, high_frames=split.frames["high_frames"][:, ::2])
    np.testing.assert_allclose(score, plain.score(keys)["score"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(vmaf, split.vmaf)
    w, c = fms.run_on_records(tiny_preset, [tiny_pair_data])
    assert np.isfinite(w) and np.isfinite(c)
