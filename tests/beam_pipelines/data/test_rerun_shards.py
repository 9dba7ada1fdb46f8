"""Re-runs of ladder and prepare into the same directory replace earlier shards (the rule
score uses: outputs.clear_previous), so another shard count never mixes two runs
(issue 14 item 14)."""
import csv
import glob
import json
import os

import pyarrow.parquet as pq


def _catalog(path, rows, fields):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return str(path)


def test_prepare_rerun_with_fewer_shards_leaves_only_the_new_shards(masters, tmp_path):
    from beam_pipelines import prepare

    cat = _catalog(tmp_path / "c.csv", [
        {"video_id": "a", "uri": masters["testsrc2"], "source_id": "a", "mos": "70"},
        {"video_id": "b", "uri": masters["mandelbrot"], "source_id": "b", "mos": "40"},
        {"video_id": "gone", "uri": str(tmp_path / "gone.mp4"), "source_id": "gone"},
    ], ["video_id", "uri", "source_id", "mos"])
    out = tmp_path / "out"
    argv = [f"--catalog={cat}", f"--output_dir={out}", "--describer=none",
            "--holdout_sources=b"]
    prepare.run(argv + ["--num_shards=4"])
    assert len(glob.glob(str(out / "train" / "data-*-of-00004.tfrecord"))) == 4
    # What an interrupted run leaves: a Beam temp dir and a stray failures shard.
    (out / "train" / "beam-temp-data-0123abcd").mkdir()
    (out / "train" / "beam-temp-data-0123abcd" / "x").write_bytes(b"partial")
    (out / "failures" / "failures-00003-of-00007.parquet").write_bytes(b"stale")
    (out / "notes.txt").write_text("not ours: must survive a re-run")

    prepare.run(argv + ["--num_shards=2"])
    for split in prepare.SPLITS:
        assert sorted(os.listdir(out / split)) == [
            f"data-{i:05d}-of-00002.tfrecord" for i in range(2)], split
    assert prepare.verify(str(out)) == {"train": 1, "holdout": 1}  # manifest == files
    failures = sorted(glob.glob(str(out / "failures" / "*")))
    assert all(os.path.basename(f).startswith("failures-") for f in failures)
    rows = [r for f in failures for r in pq.read_table(f).to_pylist()]
    with open(out / "manifest.json") as f:
        assert len(rows) == json.load(f)["failures"] == 1
    assert (out / "notes.txt").exists()


def test_ladder_rerun_replaces_catalog_and_failure_shards(masters, tmp_path):
    from beam_pipelines import ladder

    src = _catalog(tmp_path / "s.csv", [
        {"video_id": "a", "uri": masters["testsrc2"]},
        {"video_id": "gone", "uri": str(tmp_path / "gone.mp4")},
    ], ["video_id", "uri"])
    out = tmp_path / "out"
    # An earlier run's files: more failure shards than this run writes, a Beam temp dir.
    (out / "failures" / "beam-temp-failures-0123abcd").mkdir(parents=True)
    (out / "failures" / "beam-temp-failures-0123abcd" / "x").write_bytes(b"partial")
    for i in range(5):
        (out / "failures" / f"failures-{i:05d}-of-00005.parquet").write_bytes(b"stale")
    (out / "catalog.csv").write_text("video_id,uri\nold__crf10,videos/old/crf10.mp4\n")
    (out / "notes.txt").write_text("not ours")

    ladder.run([f"--catalog={src}", f"--output_dir={out}", "--crfs=40", "--preset=ultrafast"])
    failures = sorted(os.listdir(out / "failures"))
    assert failures == ["failures-00000-of-00001.parquet"], failures  # one shard (item 17)
    rows = [r for f in failures for r in pq.read_table(out / "failures" / f).to_pylist()]
    with open(out / "ladder_stats.json") as f:
        assert len(rows) == json.load(f)["failures"] == 2  # gone and gone__crf40
    with open(out / "catalog.csv") as f:
        assert sorted(r["video_id"] for r in csv.DictReader(f)) == ["a", "a__crf40"]
    assert (out / "notes.txt").exists()
