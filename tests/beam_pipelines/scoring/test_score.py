"""End to end: `beam_pipelines.score` on a ladder + bad-input catalog, tables read back.

One in_memory run and one re-run into the same directory with
--direct_running_mode=multi_processing --direct_num_workers=2 (session fixtures: the
model's XLA compile is paid once per process), many assertions on them.
"""
import csv
import glob
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import pyarrow.parquet as pq
import pytest

from beam_pipelines import flip_rate, schemas, score, tables

K = 8  # cpllm_tiny's num_keyframes


def write_csv(path, rows, fields=("video_id", "uri", "source_id", "crf")):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return str(path)


def _tree(*roots):
    """{path: (size, mtime_ns)} of every file under roots."""
    out = {}
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                p = os.path.join(dirpath, name)
                st = os.stat(p)
                out[p] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, ladder_rows, bad_inputs):
    d = tmp_path_factory.mktemp("catalog")
    rows = list(ladder_rows) + [row for row, _ in bad_inputs.values()]
    return {"catalog": write_csv(d / "catalog.csv", rows), "rows": rows,
            "media_dirs": sorted({os.path.dirname(r["uri"]) for r in rows if r["uri"]})
            + [str(d)]}


@pytest.fixture(scope="session")
def runs(tmp_path_factory, corpus):
    """Runs the pipeline twice into the same directory; returns what each left there."""
    out = str(tmp_path_factory.mktemp("out"))
    tmp = str(tmp_path_factory.mktemp("tmp"))
    media_before = _tree(*corpus["media_dirs"])
    result = {"out": out, "tmp": tmp}
    with pytest.MonkeyPatch.context() as mp:
        # Everything the pipeline or its workers put in the OS temp dir lands here.
        mp.setenv("TMPDIR", tmp)
        mp.setattr(tempfile, "tempdir", tmp)
        argv = ["--catalog", corpus["catalog"], "--output_dir", out]
        result["summary1"] = score.run(argv)
        result["scores1"] = tables.read_table(out, "scores")
        result["failures1"] = tables.read_table(out, "failures")
        result["files1"] = sorted(os.listdir(out))
        # What an interrupted run can leave behind: Beam temp files and a stray shard.
        os.makedirs(os.path.join(out, "beam-temp-scores-0123abcd"))
        with open(os.path.join(out, "beam-temp-scores-0123abcd", "x.parquet"), "wb") as f:
            f.write(b"partial")
        with open(os.path.join(out, "scores-00007-of-00009.parquet"), "wb") as f:
            f.write(b"stale shard of an interrupted run")
        with open(os.path.join(out, "notes.txt"), "w") as f:
            f.write("not ours: must survive a re-run")
        result["summary2"] = score.run(argv + ["--direct_running_mode=multi_processing",
                                               "--direct_num_workers=2"])
        result["scores2"] = tables.read_table(out, "scores")
        result["failures2"] = tables.read_table(out, "failures")
        result["flip_rate2"] = tables.read_table(out, "flip_rate")
    result["tmp_left"] = sorted(os.listdir(tmp))
    result["media_changed"] = media_before != _tree(*corpus["media_dirs"])
    return result


def test_every_catalog_row_lands_in_exactly_one_table(runs, corpus):
    scored = [r["video_id"] for r in runs["scores1"]]
    failed = [r["video_id"] for r in runs["failures1"]]
    assert len(scored) + len(failed) == len(corpus["rows"])
    assert len(set(scored)) == len(scored)
    expected_ids = [r["video_id"] or None for r in corpus["rows"]]
    assert sorted(scored + failed, key=str) == sorted(expected_ids, key=str)
    assert runs["summary1"]["scored"] == len(scored)
    assert runs["summary1"]["failed"] == len(failed)
    # Beam metrics agree with the tables.
    m = runs["summary1"]["metrics"]
    stages = [f["stage"] for f in runs["failures1"]]
    from cpllm_model import CPLLMPreprocessor

    per_video = K * CPLLMPreprocessor.from_preset("cpllm_tiny").frames_per_key
    assert m["videos_scored"] == len(scored) and m["frames_decoded"] == per_video * len(scored)
    assert m["malformed_rows"] + m["duplicate_rows"] == stages.count("catalog")
    for stage in ("read", "probe"):
        assert m[f"failed_{stage}"] == stages.count(stage), stage
    assert 1 <= m["batch_size"]["max"] <= 4


def test_bad_inputs_fail_at_the_right_stage(runs, bad_inputs, ladder_rows):
    by_key = {}
    for f in runs["failures1"]:
        by_key.setdefault((f["video_id"], f["uri"]), []).append(f)
    scored = {r["video_id"] for r in runs["scores1"]}
    for name, (row, stage) in bad_inputs.items():
        if stage is None:
            assert row["video_id"] in scored, name
            continue
        video_id = row["video_id"] or None
        hits = [f for (v, u), fs in by_key.items() for f in fs
                if v == video_id and (u == row["uri"] or u is None or stage == "catalog")]
        assert any(f["stage"] == stage for f in hits), (name, hits)
        for f in hits:
            assert f["message"] and f["error_type"] and f["attempts"] >= 1
    # The duplicate's first occurrence (the ladder row) is the one scored.
    first = ladder_rows[0]
    assert [r["uri"] for r in runs["scores1"] if r["video_id"] == first["video_id"]] == [
        first["uri"]]


def test_scores_table(runs, ladder_rows):
    rows = {r["video_id"]: r for r in runs["scores1"]}
    for lr in ladder_rows:
        r = rows[lr["video_id"]]
        assert r["source_id"] == lr["source_id"] and r["crf"] == lr["crf"]
        assert math.isfinite(r["score"])
        assert len(r["frame_scores"]) == K and len(r["frame_times_s"]) == K
        assert r["score_alone"] == pytest.approx(sum(r["frame_scores"]) / K, rel=1e-5)
        assert 0 < r["frame_times_s"][0] < r["frame_times_s"][-1] < r["duration_s"] + 1e-6
        assert (r["width"], r["height"], r["codec"]) == (96, 64, "h264")
        assert r["fps"] == pytest.approx(12) and r["duration_s"] == pytest.approx(1, abs=0.2)
        assert r["model_id"] == "cpllm_tiny" and r["description"] is None
        assert r["scored_at"].tzinfo is not None
        # Bitrate: the mp4 states the video stream's; it is the file's rate less the
        # container overhead (< 1.5 kB on these 1 s clips), within 10 % at CRF 18.
        assert r["bitrate_source"] == "stream" and r["ladder_id"] == lr["source_id"]
        file_kbps = os.path.getsize(lr["uri"]) * 8 / r["duration_s"] / 1000
        assert 0 < r["bitrate_kbps"] <= file_kbps
        assert (file_kbps - r["bitrate_kbps"]) * r["duration_s"] * 1000 / 8 < 1500
        if lr["crf"] == min(r2["crf"] for r2 in ladder_rows):
            assert r["bitrate_kbps"] == pytest.approx(file_kbps, rel=0.10)
    # score: score_alone read against its ladder with the preset's fitted weight.
    from cpllm_model import preset_io

    weight = preset_io.task_config("cpllm_tiny").get("ladder_detail_weight", 0.0)
    assert weight > 0  # the bundled preset ships a fitted weight: the step is on
    for source in {lr["source_id"] for lr in ladder_rows}:
        ladder = [r for r in runs["scores1"] if r["source_id"] == source]
        assert len(ladder) == sum(lr["source_id"] == source for lr in ladder_rows)
        assert all(math.isfinite(r["fine_detail"]) and r["fine_detail"] != 0 for r in ladder)
        mean = math.fsum(r["fine_detail"] for r in sorted(ladder, key=lambda r: r["video_id"]))
        for r in ladder:
            z = (math.log(r["score_alone"] / (100 - r["score_alone"]))
                 + weight * (r["fine_detail"] - mean / len(ladder)))
            assert r["score"] == pytest.approx(100 / (1 + math.exp(-z)), rel=1e-12)
    # Parquet carries exactly the declared schemas.
    out = runs["out"]
    for name, (schema, _) in schemas.TABLES.items():
        paths = [p for p in os.listdir(out) if p.startswith(name + "-")]
        assert paths, name
        for path in paths:
            assert pq.read_schema(os.path.join(out, path)).remove_metadata() == schema, path


def test_flip_rate_table_matches_the_scores(runs):
    expected = flip_rate.flip_rate_rows(
        (r["source_id"], r["crf"], r["score"]) for r in runs["scores2"])
    # Same rows; the table adds the run's run_id (issue 14 item 12).
    run_ids = {r.pop("run_id") for r in (dict(r) for r in runs["flip_rate2"])}
    assert run_ids == {runs["summary2"]["run_id"]}
    table = [{k: v for k, v in r.items() if k != "run_id"} for r in runs["flip_rate2"]]
    assert sorted(table, key=str) == sorted(expected, key=str)
    # 2 sources x 3 pairs, per source and overall, at two levels.
    assert {r["source_id"] for r in runs["flip_rate2"]} == {"*", "testsrc2", "astronaut"}
    overall = [r for r in runs["flip_rate2"]
               if r["source_id"] == "*" and r["level"] == schemas.LEVEL_PAIR]
    assert sum(r["pairs"] for r in overall) == 6


def test_rerun_same_dir_has_no_duplicates_and_bit_identical_scores(runs):
    def key(rows):
        return sorted((r["video_id"], r["score"], tuple(r["frame_scores"])) for r in rows)

    assert key(runs["scores2"]) == key(runs["scores1"])  # == on floats: bit-identical
    assert len(runs["failures2"]) == len(runs["failures1"])
    assert runs["summary2"]["scored"] == runs["summary1"]["scored"]
    # Only the second run's shards remain: NNNNN-of-MMMMM complete, one set per table.
    for name in score.TABLE_NAMES:
        shards = sorted(f for f in os.listdir(runs["out"]) if f.startswith(name + "-"))
        total = int(shards[0].split("-of-")[1].split(".")[0])
        assert shards == [f"{name}-{i:05d}-of-{total:05d}.parquet" for i in range(total)]


def test_nothing_written_outside_the_output_dir(runs):
    assert not runs["media_changed"]
    assert runs["tmp_left"] == []
    # Only finalized table shards in the output dir (no Beam temp dirs, no stale shard),
    # and files that are not ours are left alone.
    leftovers = set(os.listdir(runs["out"])) - {"notes.txt"}
    assert all(f.endswith(".parquet") and f.split("-")[0] in score.TABLE_NAMES
               for f in leftovers)
    assert "notes.txt" in os.listdir(runs["out"])


def test_tables_are_snappy_and_small_tables_have_one_shard(runs):
    """The second run's tables (two worker processes): snappy-compressed Parquet, every
    table but scores in one shard (issue 14 item 17). Read back with pyarrow."""
    shard_sets = {}
    for path in sorted(glob.glob(os.path.join(runs["out"], "*.parquet"))):
        m = re.fullmatch(r"(\w+)-(\d{5})-of-(\d{5})\.parquet", os.path.basename(path))
        assert m, path
        shard_sets.setdefault(m.group(1), []).append((int(m.group(2)), int(m.group(3))))
        meta = pq.ParquetFile(path).metadata
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                assert meta.row_group(g).column(c).compression == "SNAPPY", (path, c)
    assert set(score.TABLE_NAMES) <= set(shard_sets)
    for name, shards in shard_sets.items():
        if name != "scores":
            assert shards == [(0, 1)], (name, shards)
    assert len(runs["failures2"]) == runs["summary2"]["failed"] > 0
    assert len(runs["scores2"]) == runs["summary2"]["scored"] > 0
    assert len(runs["flip_rate2"]) > 0


def test_cli_help_explains_every_flag():
    proc = subprocess.run([sys.executable, "-m", "beam_pipelines.score", "--help"],
                          capture_output=True, text=True, timeout=120, check=True)
    flags = ["--catalog", "--output_dir", "--model", "--describe", "--num_keyframes",
             "--max_batch_size", "--max_attempts", "--decode_timeout_s", "--bigquery_dataset",
             "--bigquery_method", "--share_model_across_processes", "--direct_running_mode",
             "--target_scores"]
    for flag in flags:
        assert flag in proc.stdout, flag
    assert "(default: 70,80,90)" in " ".join(proc.stdout.split())


def test_cli_scores_a_catalog_as_the_readme_runs_it(tmp_path, ladder_rows):
    """`python -m beam_pipelines.score --catalog ... --output_dir ...` in a process of its
    own. Before: __main__ and the imported module each defined ScoreOptions, and every
    run stopped at "argument --catalog: conflicting option string" (only --help worked)."""
    rows = [dict(ladder_rows[0]), {"video_id": "gone", "uri": str(tmp_path / "gone.mp4")}]
    cat = write_csv(tmp_path / "catalog.csv", rows)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "beam_pipelines.score", "--catalog", cat,
                           "--output_dir", str(out)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scored = pq.read_table(glob.glob(str(out / "scores-*.parquet"))).to_pylist()
    failed = pq.read_table(glob.glob(str(out / "failures-*.parquet"))).to_pylist()
    assert [r["video_id"] for r in scored] == [rows[0]["video_id"]]
    assert 0.0 <= scored[0]["score"] <= 100.0
    assert [(r["video_id"], r["stage"]) for r in failed] == [("gone", "read")]


def test_cli_rejects_a_catalog_that_is_not_a_table(tmp_path, capsys):
    bad = tmp_path / "catalog.parquet"
    bad.write_bytes(b"this is not parquet")
    assert score.main(["--catalog", str(bad), "--output_dir", str(tmp_path / "o")]) == 2
    assert "not valid Parquet" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_describe_keeps_the_models_num_keyframes(tmp_path, capsys, ladder_rows):
    catalog_path = write_csv(tmp_path / "c.csv", ladder_rows[:1])
    out = tmp_path / "o"
    out.mkdir()
    (out / "scores-00000-of-00001.parquet").write_bytes(b"earlier run")
    argv = ["--catalog", catalog_path, "--output_dir", str(out), "--num_keyframes", "4",
            "--describe"]
    assert score.main(argv) == 2
    assert "--describe reads the model's K = 8" in capsys.readouterr().err
    assert (out / "scores-00000-of-00001.parquet").exists()  # nothing deleted


def test_scoring_with_another_num_keyframes(tmp_path, ladder_rows):
    catalog_path = write_csv(tmp_path / "c.csv", ladder_rows[:2])
    out = tmp_path / "o"
    assert score.main(["--catalog", catalog_path, "--output_dir", str(out),
                       "--num_keyframes", "4"]) == 0
    table = pq.read_table(sorted(glob.glob(str(out / "scores-*.parquet")))).to_pylist()
    assert len(table) == 2
    for row in table:
        assert len(row["frame_scores"]) == 4
        assert row["score_alone"] == pytest.approx(np.mean(row["frame_scores"]), rel=1e-6)
        assert 0.0 <= min(row["frame_scores"]) and max(row["frame_scores"]) <= 100.0
