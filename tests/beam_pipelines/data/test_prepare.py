"""beam_pipelines.prepare run as a program on DirectRunner's worker processes: real decode
+ cpllm_tiny preprocessing -> TFRecords read back with beam_pipelines.records; bad videos
land in the failures table."""
import csv
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from beam_pipelines import records

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


@pytest.fixture(scope="module")
def prepared(ladder_run, tmp_path_factory):
    ladder_dir, _rows, _ = ladder_run
    d = tmp_path_factory.mktemp("prepare")
    bad = d / "garbage.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    cat = d / "catalog.csv"
    with open(os.path.join(ladder_dir, "catalog.csv")) as f:
        reader = csv.DictReader(f)
        fields = [*reader.fieldnames, "description"]
        src_rows = list(reader)
    with open(cat, "w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        for r in src_rows:
            if r["video_id"] == "testsrc2__static":
                r["description"] = "A test card. Synthetic. Clean."
            w.writerow(r)
        w.writerow({"video_id": "garbage", "uri": str(bad), "source_id": "garbage"})
        w.writerow({"video_id": "gone", "uri": str(d / "gone.mp4"), "source_id": "gone"})
    out = d / "out"
    # Run as a program on two worker processes, as on Dataflow: DoFns pickled from
    # `__main__` used to look up `load_preprocessor` in the worker's own `__main__`
    # (AttributeError) until the __main__ block ran the importable module.
    cmd = [sys.executable, "-m", "beam_pipelines.prepare", f"--catalog={cat}",
           f"--output_dir={out}", "--model=cpllm_tiny", "--max_patches=16",
           "--holdout_sources=mandelbrot__zoom", "--num_shards=2",
           "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False,
                         cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    return str(out), src_rows


def _read(out, split, spec):
    files = sorted(glob.glob(os.path.join(out, split, "*.tfrecord")))
    return [records.make_parse_fn(spec)(r) for r in tf.data.TFRecordDataset(files)]


def test_manifest_counts_and_splits(prepared):
    out, src_rows = prepared
    with open(os.path.join(out, "manifest.json")) as f:
        m = json.load(f)
    assert m["examples"] == len(src_rows) == 8
    assert m["sources"] == 2 and m["originals"] == 2 and m["failures"] == 2
    assert m["splits"]["holdout"]["source_ids"] == ["mandelbrot__zoom"]
    assert m["splits"]["train"]["source_ids"] == ["testsrc2__static"]
    assert m["splits"]["train"]["examples"] == m["splits"]["holdout"]["examples"] == 4
    assert len(glob.glob(os.path.join(out, "train", "data-*-of-00002.tfrecord"))) == 2
    from beam_pipelines import prepare

    assert prepare.verify(out) == {"train": 4, "holdout": 4}
    assert not os.path.exists(os.path.join(out, "_staging"))  # staged records removed


def test_shards_hold_whole_sources_in_video_id_order(prepared):
    from beam_pipelines import prepare

    out, _ = prepared
    for split in prepare.SPLITS:
        files = sorted(glob.glob(os.path.join(out, split, "*.tfrecord")))
        assert [os.path.basename(f) for f in files] == [
            "data-00000-of-00002.tfrecord", "data-00001-of-00002.tfrecord"]
        held = []
        for i, f in enumerate(files):
            ids = [tf.train.Example.FromString(r).features.feature for r in
                   tf.data.TFRecordDataset(f).as_numpy_iterator()]
            video_ids = [x["video_id"].bytes_list.value[0].decode() for x in ids]
            sources = {x["source_id"].bytes_list.value[0].decode() for x in ids}
            assert video_ids == sorted(video_ids)
            assert all(prepare.shard_of(s, 2) == i for s in sources), (f, sources)
            held += video_ids
        assert len(held) == 4  # one source of 4 renditions per split, in its one file


def test_records_parse_back_with_shapes_dtypes_labels(prepared):
    out, src_rows = prepared
    spec = records.RecordSpec.from_manifest(os.path.join(out, "manifest.json"))
    from cpllm_model import frames as frames_lib
    from cpllm_model import presets

    tiny = presets.TINY
    k, s, m, p = (tiny["num_keyframes"], tiny["image_size"], tiny["max_patches"],
                  tiny["patch_size"])
    assert (spec.num_keyframes, spec.image_size, spec.max_patches, spec.patch_size) == (
        k, s, m, p)
    assert spec.patch_fill  # the bundled preset fills; the manifest says how patches were cut
    # 160x120 at native size (P = 32): a 3 x 5 grid of 15 real cells in M = 16 slots
    (gh, gw), cells = frames_lib.patch_grid(120, 160, tiny["low_level_max_side"], p, m)
    assert (gh, gw) == (120, 160) and len(cells) == (120 // p) * (160 // p) < m
    want_mask = np.array([1.0] * len(cells) + [0.0] * (m - len(cells)), np.float32)
    labels = {r["video_id"]: float(r["mos"]) for r in src_rows}
    seen = {}
    for split, source in (("train", "testsrc2__static"), ("holdout", "mandelbrot__zoom")):
        for inputs, targets in _read(out, split, spec):
            assert targets["source_id"].numpy().decode() == source
            assert inputs["high_frames"].shape == (k * spec.high_level_frames, s, s, 3)
            assert inputs["high_frames"].dtype == tf.uint8
            assert inputs["low_patches"].shape == (k, m, p, p, 3)
            assert inputs["low_patches"].dtype == tf.uint8
            assert inputs["patch_mask"].shape == (k, m)
            mask = inputs["patch_mask"].numpy()
            np.testing.assert_array_equal(mask, np.broadcast_to(want_mask, (k, m)))
            low = inputs["low_patches"].numpy()
            assert not low[:, len(cells):].any()  # padded slots are zero
            assert low[:, :len(cells)].std() > 5  # real cells are real pixels
            assert inputs["high_frames"].numpy().std() > 5  # real pictures, not zeros
            vid = targets["video_id"].numpy().decode()
            assert targets["label"].numpy() == pytest.approx(labels[vid], abs=1e-3)
            assert bool(targets["is_original"].numpy()) == ("crf" not in vid)
            seen[vid] = (targets, inputs)
    assert set(seen) == set(labels)
    original = seen["testsrc2__static"][0]
    assert original["description"].numpy().decode() == "A test card. Synthetic. Clean."
    t, x = seen["mandelbrot__zoom__crf44"]
    text = t["description"].numpy().decode()
    # measured sentences (frame_stats + blockiness/blur + mos), never the source's name
    assert text.startswith("A ") and text.count(". ") == 2 and "The quality is " in text
    assert "Mandelbrot" not in text and "CRF" not in text
    n = int(x["description_padding_mask"].numpy().sum())
    assert n > 10 and int(x["description_token_ids"].numpy()[:n].min()) > 3
    # higher CRF -> lower label within one source, and frames differ between rungs
    lo, hi = seen["mandelbrot__zoom__crf20"], seen["mandelbrot__zoom__crf44"]
    assert lo[0]["label"].numpy() > hi[0]["label"].numpy()
    assert not np.array_equal(lo[1]["low_patches"].numpy(), hi[1]["low_patches"].numpy())


def test_bad_videos_land_in_failures(prepared):
    out, _ = prepared
    rows = pq.read_table(glob.glob(os.path.join(out, "failures", "*.parquet"))).to_pylist()
    by_id = {r["video_id"]: r for r in rows}
    assert set(by_id) == {"garbage", "gone"}
    assert by_id["gone"]["stage"] == "read"
    assert by_id["garbage"]["stage"] in ("probe", "decode")
    assert all(r["message"] for r in rows)


def test_records_can_carry_fewer_patches_than_the_preset_scores_with():
    import numpy as np

    from beam_pipelines import prepare

    shared = prepare.load_preprocessor("cpllm_tiny")
    m = shared.max_patches
    fewer = prepare.records_preprocessor("cpllm_tiny", 4)
    assert fewer.max_patches == 4 and shared.max_patches == m  # the preset's is untouched
    assert prepare.records_preprocessor("cpllm_tiny", 0) is shared
    frames = np.random.default_rng(0).integers(
        0, 256, (fewer.num_keyframes * fewer.frames_per_key, 360, 640, 3), dtype=np.uint8)
    x = fewer.frame_inputs(frames)
    assert np.asarray(x["low_patches"]).shape[:2] == (fewer.num_keyframes, 4)
    assert np.asarray(shared.frame_inputs(frames)["low_patches"]).shape[1] == m
    opts, _ = prepare.parse_args(["--catalog=c.csv", "--output_dir=o", "--max_patches=16"])
    assert opts.max_patches == 16
    # The records' M must hold whole clips of T frames (frames.clip_length), checked
    # before any pipeline runs.
    assert prepare.records_preprocessor("cpllm_tiny", 16, None, 2).low_level_frames == 2
    with pytest.raises(ValueError, match="divides the patch slots M = 15"):
        prepare.records_preprocessor("cpllm_tiny", 15, None, 2)
    # A high-level view of each key frame and the frame after it: the decode brings two
    # frames a key frame; the patches stay one key frame's.
    shared_views = shared.high_level_frames
    pairs = prepare.records_preprocessor("cpllm_tiny", 16, None, 0, 2)
    assert (pairs.high_level_frames, pairs.low_level_frames, pairs.frames_per_key) == (2, 1, 2)
    assert shared.high_level_frames == shared_views  # the preset's is untouched
    opts, _ = prepare.parse_args(["--catalog=c.csv", "--output_dir=o",
                                  "--high_level_frames=2"])
    assert opts.high_level_frames == 2


def test_records_patch_fill_is_the_presets_unless_named():
    import numpy as np

    from beam_pipelines import prepare, records

    shared = prepare.load_preprocessor("cpllm_tiny")
    assert shared.patch_fill  # the bundled preset scores with fill
    assert prepare.records_preprocessor("cpllm_tiny", 16, None).patch_fill
    grid_only = prepare.records_preprocessor("cpllm_tiny", 16, False)
    filled = prepare.records_preprocessor("cpllm_tiny", 16, True)
    assert not grid_only.patch_fill and filled.patch_fill and shared.patch_fill
    # 96x64 at P = 32: 6 grid cells for 16 slots; fill repeats them in 2 whole rounds.
    frames = np.random.default_rng(0).integers(
        0, 256, (shared.num_keyframes * shared.frames_per_key, 64, 96, 3), dtype=np.uint8)
    assert np.asarray(grid_only.frame_inputs(frames)["patch_mask"])[0].sum() == 6
    assert np.asarray(filled.frame_inputs(frames)["patch_mask"])[0].sum() == 12
    assert not records.RecordSpec.from_preprocessor(grid_only, 8).patch_fill
    assert [prepare.parse_patch_fill(v) for v in ("", "true", "false")] == [None, True, False]
    opts, _ = prepare.parse_args(["--catalog=c.csv", "--output_dir=o", "--patch_fill=false"])
    assert prepare.parse_patch_fill(opts.patch_fill) is False


def test_holdout_sources_from_a_file(tmp_path):
    """`--holdout_sources @FILE`: a dataset's whole test split, one source_id per line."""
    from beam_pipelines import prepare

    listed = tmp_path / "test_split.txt"
    listed.write_text("# LSVQ test names\nyfcc-batch1/747\n\n  ia-batch3/12 \nyfcc-batch1/747\n")
    ids = prepare.parse_holdout_sources(f"@{listed}")
    assert ids == ["ia-batch3/12", "yfcc-batch1/747"]
    assert prepare.parse_holdout_sources("b, a,,a") == ["a", "b"]
    assert prepare.split_of("ia-batch3/12", frozenset(ids)) == "holdout"
    assert prepare.split_of("yfcc-batch1/748", frozenset(ids)) == "train"
    with pytest.raises(ValueError, match="no file"):
        prepare.parse_holdout_sources(f"@{tmp_path / 'missing.txt'}")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="lists no source_id"):
        prepare.parse_holdout_sources(f"@{tmp_path / 'empty.txt'}")

