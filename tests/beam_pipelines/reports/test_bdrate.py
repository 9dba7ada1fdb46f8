"""`python -m beam_pipelines.bdrate`: tables in, bdrate-*.parquet + summary out.

Synthetic scores tables for the table logic; then real ladders: one testsrc2 clip
encoded as two x264 CRF ladders (ultrafast vs slow), scored by the pipeline, VMAF
measured, BD-rate on VMAF must say slow is cheaper.
"""
import csv
import datetime
import math
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_pipelines import bdrate, bjontegaard, catalog, schemas, tables

Q = [30.0, 50.0, 70.0, 90.0]
R = [100.0, 300.0, 900.0, 2700.0]


def _row(video_id, source_id, ladder_id, kbps, score, **extra):
    return {"video_id": video_id, "uri": f"/v/{video_id}.mp4", "source_id": source_id,
            "crf": None, "ladder_id": ladder_id, "bitrate_kbps": kbps,
            "bitrate_source": "catalog", "score": score, "frame_scores": [score],
            "frame_times_s": [0.5], "description": None, "width": 96, "height": 64,
            "duration_s": 1.0, "fps": 12.0, "codec": "h264", "model_id": "m",
            "scored_at": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC), **extra}


def _write_scores(d, rows):
    os.makedirs(d, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.SCORES_SCHEMA),
                   os.path.join(d, "scores-00000-of-00001.parquet"))
    return str(d)


def _ladder(source, ladder, rates, qualities):
    return [_row(f"{ladder}_{source}_{i}", source, ladder, r, q)
            for i, (r, q) in enumerate(zip(rates, qualities))]


def _read(d):
    paths = [p for p in os.listdir(d) if p.startswith("bdrate-")]
    assert paths == ["bdrate-00000-of-00001.parquet"]
    path = os.path.join(d, paths[0])
    assert pq.read_schema(path).remove_metadata() == schemas.BDRATE_SCHEMA
    return {r["source_id"]: r for r in pq.read_table(path).to_pylist()}


def test_two_directories_every_source_gets_a_row(tmp_path, capsys):
    a = (_ladder("halved", "x", R, Q) + _ladder("few", "x", R, Q)
         + _ladder("apart", "x", R, Q) + _ladder("only_a", "x", R, Q))
    b = (_ladder("halved", "y", [r / 2 for r in R], Q) + _ladder("few", "y", R[:3], Q[:3])
         + _ladder("apart", "y", R, [q + 100 for q in Q]) + _ladder("only_b", "y", R, Q))
    da, db = _write_scores(tmp_path / "a", a), _write_scores(tmp_path / "b", b)
    assert bdrate.main(["--scores", da, "--scores", db]) == 0
    out = capsys.readouterr().out
    rows = _read(db)  # default output: the last --scores directory
    assert set(rows) == {"halved", "few", "apart", "only_a", "only_b", "*"}
    assert rows["halved"]["status"] == "ok"
    assert rows["halved"]["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-9)
    assert rows["few"]["status"] == bjontegaard.TOO_FEW_RUNGS and rows["few"]["reason"]
    assert rows["apart"]["status"] == bjontegaard.NO_OVERLAP
    assert rows["only_a"]["status"] == rows["only_b"]["status"] == bdrate.MISSING
    mean = rows["*"]
    assert mean["status"] == "ok" and mean["bd_rate_percent"] == pytest.approx(-50.0)
    assert mean["reason"] == "mean over 1 of 5 sources"
    assert mean["median_bd_rate_percent"] == pytest.approx(-50.0)
    assert mean["reliable_mean_bd_rate_percent"] == pytest.approx(-50.0)
    assert (mean["ladder_a"], mean["ladder_b"], mean["metric"], mean["method"]) == (
        da, db, "score", "cubic")
    assert "halved: -50.00 %" in out and "few: too_few_rungs" in out and "mean: -50.00" in out
    # These rows have no score_alone (a table written before it existed): said so.
    assert bdrate.NO_SCORE_ALONE_NOTE in out


def test_score_alone_is_the_default_and_separate_runs_on_score_say_so(tmp_path, capsys):
    # score: read against each run's own mean (garbage here); score_alone: the model's.
    a = [{**r, "score_alone": r["score"], "score": 50.0 - i}
         for i, r in enumerate(_ladder("s", "x", R, Q))]
    b = [{**r, "score_alone": r["score"], "score": 60.0 - i}
         for i, r in enumerate(_ladder("s", "y", [r / 2 for r in R], Q))]
    da, db = _write_scores(tmp_path / "a", a), _write_scores(tmp_path / "b", b)
    assert bdrate.main(["--scores", da, "--scores", db, "--metric", "score_alone"]) == 0
    assert _read(db)["s"]["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-9)
    assert bdrate.SEPARATE_RUNS_NOTE not in capsys.readouterr().out
    assert bdrate.main(["--scores", da, "--scores", db, "--output_dir",
                        str(tmp_path / "default")]) == 0
    default = _read(str(tmp_path / "default"))
    assert default["s"]["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-9)
    assert default["*"]["metric"] == "score_alone"
    out = capsys.readouterr().out
    assert bdrate.SEPARATE_RUNS_NOTE not in out and bdrate.NO_SCORE_ALONE_NOTE not in out
    bdrate.main(["--scores", da, "--scores", db, "--metric", "score"])
    assert _read(db)["*"]["metric"] == "score"
    assert _read(db)["s"]["bd_rate_percent"] != pytest.approx(-50.0, abs=1e-3)
    assert bdrate.SEPARATE_RUNS_NOTE in capsys.readouterr().out
    # Rows whose score is their score_alone (the step off, or older tables): no note.
    same = [{**r, "score": r["score_alone"]} for r in a]
    _write_scores(tmp_path / "a", same)
    assert bdrate.main(["--scores", da, "--scores", db, "--metric", "score_alone"]) == 0
    bdrate.main(["--scores", _write_scores(tmp_path / "a2", same),
                 "--scores", _write_scores(tmp_path / "b2", [{**r, "score": r["score_alone"]}
                                                            for r in b]),
                 "--metric", "score"])
    assert bdrate.SEPARATE_RUNS_NOTE not in capsys.readouterr().out


def test_a_sources_own_row_is_not_a_rung(tmp_path):
    # A ladder's catalog.csv lists the original (video_id = source_id, no crf); scored
    # with its rungs, it would be the same lossless point on both sides of the BD-rate.
    original = [_row("s1", "s1", "s1", 50000.0, 99.0)]
    a = _ladder("s1", "x", R, Q) + original
    b = _ladder("s1", "y", [r / 2 for r in R], Q) + original
    da, db = _write_scores(tmp_path / "a", a), _write_scores(tmp_path / "b", b)
    rows = {r["source_id"]: r for r in bdrate.run(["--scores", da, "--scores", db])}
    assert (rows["s1"]["rungs_a"], rows["s1"]["rungs_b"]) == (4, 4)
    assert rows["s1"]["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-9)
    rung = _row("s1", "s1", "s1", 50000.0, 99.0, crf=18)  # a rung named after its source
    assert not catalog.is_original(rung) and catalog.is_original(original[0])


def test_one_directory_two_ladder_ids_piecewise_and_rerun(tmp_path, capsys):
    rows = (_ladder("s1", "slow", [r * 0.8 for r in R], Q) + _ladder("s1", "fast", R, Q)
            + _ladder("s2", "slow", R, [q + 5 for q in Q]) + _ladder("s2", "fast", R, Q)
            + _ladder("s2", "other", R, Q))
    d = _write_scores(tmp_path / "s", rows)
    out = str(tmp_path / "out")
    argv = ["--scores", d, "--ladder_a", "fast", "--ladder_b", "slow", "--piecewise",
            "--output_dir", out]
    assert bdrate.main(argv) == 0
    assert bdrate.main(argv) == 0  # a re-run replaces the table
    got = _read(out)
    assert got["s1"]["bd_rate_percent"] == pytest.approx(-20.0, abs=1e-9)
    assert got["s2"]["bd_rate_percent"] == pytest.approx((3 ** -0.25 - 1) * 100, abs=1e-9)
    assert got["*"]["method"] == "pchip" and (got["*"]["ladder_a"], got["*"]["ladder_b"]) == (
        "fast", "slow")
    assert (got["s1"]["beaten_rungs_a"], got["s1"]["beaten_rungs_b"]) == (0, 0)
    assert got["*"]["reason"] == "mean over 2 of 2 sources"
    # A ladder whose quality does not rise with rate: its BD-rate is given and flagged.
    dips = rows + _ladder("s3", "slow", R, [30.0, 70.0, 50.0, 90.0]) + _ladder(
        "s3", "fast", R, Q)
    d3 = _write_scores(tmp_path / "dips", dips)
    assert bdrate.main(["--scores", d3, "--ladder_a", "fast", "--ladder_b", "slow"]) == 0
    lines = {ln.split(":")[0].strip(): ln for ln in capsys.readouterr().out.splitlines()}
    assert "UNRELIABLE: 0 rung(s) of A and 1 of B" in lines["s3"]
    assert "UNRELIABLE" not in lines["s1"] + lines["s2"]
    got = _read(d3)
    assert got["s3"]["status"] == "ok" and got["s3"]["bd_rate_percent"] is not None
    assert (got["s3"]["beaten_rungs_a"], got["s3"]["beaten_rungs_b"]) == (0, 1)
    assert got["*"]["reason"] == ("mean over 3 of 3 sources, 1 of them unreliable (rungs "
                                  "beaten by a cheaper rung, or a fit that bends back)")
    # Beside the mean, the median (one runaway fit cannot move it) and the mean over the
    # sources whose quality rises with rate (s1, s2: -20 % and 3^-1/4 - 1).
    values = sorted(got[s]["bd_rate_percent"] for s in ("s1", "s2", "s3"))
    assert got["*"]["median_bd_rate_percent"] == values[1]
    assert got["*"]["reliable_mean_bd_rate_percent"] == pytest.approx(
        (-20.0 + (3 ** -0.25 - 1) * 100) / 2, abs=1e-9)
    assert got["s3"]["median_bd_rate_percent"] is None
    assert f"; median {values[1]:+.2f} %, mean over reliable sources -22.01 %" in lines["mean"]
    # Rising rungs whose cubic fit bends back (qualities bunched, test_bjontegaard): no
    # beaten rung, yet flagged, and left out of the reliable mean.
    bunched_q = [10.0, 62.0, 64.0, 66.0, 67.0, 68.0]
    bunched_r = [100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0]
    bent = rows + _ladder("s4", "slow", [r * 0.9 for r in bunched_r],
                          [10.0, 63.0, 66.0, 68.0, 68.5, 68.7]) + _ladder(
        "s4", "fast", bunched_r, bunched_q)
    d4 = _write_scores(tmp_path / "bent", bent)
    assert bdrate.main(["--scores", d4, "--ladder_a", "fast", "--ladder_b", "slow"]) == 0
    lines = {ln.split(":")[0].strip(): ln for ln in capsys.readouterr().out.splitlines()}
    assert lines["s4"].endswith(
        "UNRELIABLE: the cubic fit of A gives 8.04e+04x the rate at a lower quality inside "
        "the overlap; the cubic fit of B gives 5.92e+15x the rate at a lower quality inside "
        "the overlap")
    assert "beaten" not in lines["s4"]
    assert lines["1 source(s) with no beaten rung have a cubic fit that bends back inside "
                 "the overlap; --piecewise (PCHIP) answers them"].endswith(": s4")
    got = _read(d4)
    assert (got["s4"]["beaten_rungs_a"], got["s4"]["beaten_rungs_b"]) == (0, 0)
    assert min(got["s4"]["fit_fall_factor_a"], got["s4"]["fit_fall_factor_b"]) > 1.5
    assert (got["s1"]["fit_fall_factor_a"], got["s1"]["fit_fall_factor_b"]) == (1.0, 1.0)
    assert got["*"]["fit_fall_factor_a"] is None and got["*"]["reason"].endswith(
        "1 of them unreliable (rungs beaten by a cheaper rung, or a fit that bends back)")
    assert got["*"]["reliable_mean_bd_rate_percent"] == pytest.approx(
        (-20.0 + (3 ** -0.25 - 1) * 100) / 2, abs=1e-9)
    # Two ladders in one directory without a choice: reported, not guessed.
    two = _write_scores(tmp_path / "two", rows)
    assert bdrate.main(["--scores", two, "--scores", d, "--ladder_b", "slow"]) == 0
    assert _read(d)["s2"]["status"] == bdrate.SEVERAL_LADDERS


def test_one_multi_size_run_gives_ladders_at_two_frame_sizes(tmp_path, capsys):
    def sized(source, height, rates, qualities):
        return [dict(r, height=height, width=height * 16 // 9, ladder_id=None)
                for r in _ladder(source, f"h{height}", rates, qualities)]

    rows = (sized("s720", 720, R, Q) + sized("s720", 480, R, Q)  # 480: not compared
            + sized("s720", 360, [r / 2 for r in R], Q)          # half the rate, same Q
            + sized("s360", 360, R, Q))                          # nothing taller than 360
    d = _write_scores(tmp_path / "ms", rows)
    assert bdrate.main(["--scores", d, "--height_b", "360"]) == 0
    got = _read(d)
    assert got["s720"]["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-9)
    assert (got["s720"]["rungs_a"], got["s720"]["rungs_b"]) == (4, 4)
    assert (got["*"]["ladder_a"], got["*"]["ladder_b"]) == ("own size", "360 rows")
    assert got["s360"]["status"] == bdrate.MISSING
    assert got["s360"]["reason"] == ("its own size is 360 rows: no rung taller than "
                                     "--height_b 360 to compare with")
    assert "B=360 rows vs A=own size" in capsys.readouterr().out
    for argv in (["--scores", d, "--scores", d, "--height_b", "360"],
                 ["--scores", d, "--height_b", "360", "--ladder_a", "x"],
                 ["--scores", d, "--height_b", "0"]):
        with pytest.raises(SystemExit):
            bdrate.main(argv)


def test_bad_invocations(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bdrate.main(["--scores", str(tmp_path)])  # one directory needs two ladder ids
    assert bdrate.main(["--scores", str(tmp_path), "--scores", str(tmp_path)]) == 2
    assert "no scores" in capsys.readouterr().err


# --- real ladders --------------------------------------------------------------------

CRFS = (20, 26, 32, 38)
PRESETS = ("ultrafast", "slow")  # A, B: slow spends fewer bits for the same quality


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, plumbing_preset):
    from beam_pipelines import score, vmaf
    from beam_pipelines.media import samples

    root = tmp_path_factory.mktemp("bd_ladders")
    master = samples.make_clip(str(root / "testsrc2.mkv"), "testsrc2", seconds=2.0,
                               size=(320, 240), fps=12)
    rows = []
    for preset in PRESETS:
        for r in samples.make_ladder(master, str(root / preset), list(CRFS),
                                     source_id="testsrc2", preset=preset):
            r.update(video_id=f"{preset}_{r['video_id']}", ladder_id=f"x264_{preset}",
                     vmaf=vmaf.vmaf(r["uri"], master))
            rows.append(r)
    cat = str(root / "catalog.csv")
    with open(cat, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = str(root / "out")
    score.run(["--catalog", cat, "--output_dir", out, "--model", plumbing_preset])
    return {"rows": rows, "catalog": cat, "out": out}


def test_real_ladders_bitrate_and_bd_rate_on_vmaf(real_run):
    scores = {r["video_id"]: r for r in tables.read_table(real_run["out"], "scores")}
    assert len(scores) == len(real_run["rows"])
    for r in real_run["rows"]:
        s = scores[r["video_id"]]
        assert s["ladder_id"] == r["ladder_id"] and s["bitrate_source"] == "stream"
        # The stream's bitrate is the file's less the mp4 overhead (~1.3 kB here).
        file_kbps = os.path.getsize(r["uri"]) * 8 / s["duration_s"] / 1000
        assert s["bitrate_kbps"] == pytest.approx(file_kbps, rel=0.10), r["video_id"]
        assert s["bitrate_kbps"] < file_kbps
    argv = ["--scores", real_run["out"], "--ladder_a", "x264_ultrafast", "--ladder_b",
            "x264_slow", "--metric", "vmaf", "--vmaf", real_run["catalog"]]
    by_vmaf = {r["source_id"]: r for r in bdrate.run(argv)}
    vm = by_vmaf["testsrc2"]
    assert vm["status"] == "ok" and (vm["rungs_a"], vm["rungs_b"]) == (4, 4)
    assert vm["bd_rate_percent"] < 0, vm  # slow is cheaper than ultrafast at equal VMAF
    assert (vm["beaten_rungs_a"], vm["beaten_rungs_b"]) == (0, 0)  # VMAF rises with rate
    # The same number straight from the formula on (probed bitrate, measured VMAF).
    side = {p: [r for r in real_run["rows"] if r["ladder_id"] == f"x264_{p}"] for p in PRESETS}
    direct = bjontegaard.bd_rate(
        [scores[r["video_id"]]["bitrate_kbps"] for r in side["ultrafast"]],
        [r["vmaf"] for r in side["ultrafast"]],
        [scores[r["video_id"]]["bitrate_kbps"] for r in side["slow"]],
        [r["vmaf"] for r in side["slow"]])
    assert vm["bd_rate_percent"] == pytest.approx(direct.bd_rate_percent, rel=1e-9)
    # On our score: a row for the source either way (the tiny model's curve may not
    # overlap or may not be monotone, so only the contract is checked here).
    by_score = {r["source_id"]: r for r in bdrate.run(argv[:6] + ["--metric", "score"])}
    sc = by_score["testsrc2"]
    assert sc["status"] in bjontegaard.STATUSES
    assert sc["status"] != "ok" or math.isfinite(sc["bd_rate_percent"])
    print("BD-rate slow vs ultrafast: VMAF", vm["bd_rate_percent"], "score",
          sc["bd_rate_percent"], sc["status"])
