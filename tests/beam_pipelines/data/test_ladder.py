"""beam_pipelines.ladder on DirectRunner (FnApiRunner): real x264 ladder, real libvmaf."""
import csv
import glob
import itertools
import json
import os

import pyarrow.parquet as pq
import pytest


def _by_source(rows):
    out = {}
    for r in rows:
        out.setdefault(r["source_id"], []).append(r)
    for v in out.values():
        v.sort(key=lambda r: -1 if r["crf"] == "" else int(r["crf"]))
    return out


def test_catalog_has_original_and_every_rung(ladder_run):
    _out, rows, CRFS = ladder_run
    ladders = _by_source(rows)
    assert set(ladders) == {"testsrc2__static", "mandelbrot__zoom"}
    for source_id, ladder in ladders.items():
        assert [r["crf"] for r in ladder] == [""] + [str(c) for c in CRFS]
        for r in ladder[1:]:
            assert r["video_id"] == f"{source_id}__crf{int(r['crf']):02d}"
            assert os.path.getsize(r["uri"]) > 0


def test_the_catalog_description_stays_on_the_original(ladder_run):
    ladders = _by_source(ladder_run[1])
    card = ladders["testsrc2__static"]
    assert card[0]["description"] == "A test card, with bars. Graphics. Sharp and clean."
    assert all(r["description"] == "" for r in card[1:])  # renditions: no description
    assert all(r["description"] == "" for r in ladders["mandelbrot__zoom"])


def test_vmaf_falls_with_crf_on_a_real_ladder(ladder_run):
    _, rows, _ = ladder_run
    for ladder in _by_source(rows).values():
        raw = [float(r["vmaf_raw"]) for r in ladder[1:]]
        assert raw[0] > raw[1] > raw[2], raw  # CRF 20 > 32 > 44, by real margins here
        assert raw[0] - raw[2] > 10.0
        block = [float(r["blockiness"]) for r in ladder[1:]]
        assert block[2] > block[0]


def test_pseudo_mos_order_and_rules(ladder_run):
    _, rows, _ = ladder_run
    ladders = _by_source(rows)
    for ladder in ladders.values():
        mos = [float(r["mos"]) for r in ladder]
        assert all(a >= b for a, b in itertools.pairwise(mos)), mos
    with_mos = ladders["testsrc2__static"]
    assert float(with_mos[0]["mos"]) == pytest.approx(60.0)
    for r in with_mos[1:]:
        assert float(r["mos"]) <= 60.0 * float(r["vmaf_raw"]) / 100.0 + 1e-3
    for r in ladders["mandelbrot__zoom"]:  # no source MOS: the label is VMAF
        assert float(r["mos"]) == pytest.approx(float(r["vmaf"]), abs=1e-3)


def test_missing_source_lands_in_failures_and_stats(ladder_run):
    out, rows, CRFS = ladder_run
    assert not any(r["source_id"] == "missing__static" for r in rows)
    failures = pq.read_table(glob.glob(os.path.join(out, "failures", "*.parquet"))).to_pylist()
    ids = sorted(f["video_id"] for f in failures)
    # the source itself (VMAF vs. itself) and each of its rungs fail at stage "read"
    assert ids == sorted(["missing__static"] + [f"missing__static__crf{c:02d}" for c in CRFS])
    assert {f["stage"] for f in failures} == {"read"}
    with open(os.path.join(out, "ladder_stats.json")) as f:
        stats = json.load(f)
    assert stats["sources"] == 2 and stats["renditions"] == 2 * len(CRFS)
    assert stats["failures"] == len(ids) and stats["order_fixes"] >= 0


def _x264_options(path):
    """The options string x264 writes into its SEI ("... subme=0 ... trellis=0 ...")."""
    with open(path, "rb") as f:
        data = f.read()
    start = data.index(b"options: ")
    return data[start:data.index(b"\x00", start)].decode("ascii", "replace")


def test_ladder_presets_encode_each_rung_with_its_own_preset(masters, tmp_path):
    from beam_pipelines import ladder

    cat = tmp_path / "sources.csv"
    with open(cat, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "uri", "ladder_crfs", "ladder_preset", "ladder_presets"])
        w.writerow(["card", masters["testsrc2"], "30;26", "medium", "slow;ultrafast"])
        w.writerow(["fractal", masters["mandelbrot"], "26", "veryfast", ""])
    own = ladder.per_source_ladders(str(cat))
    assert own["card"] == {"crfs": [26, 30], "preset": "medium",
                           "rung_presets": {30: "slow", 26: "ultrafast"}, "heights": None}
    assert own["fractal"]["rung_presets"] is None
    entries = [{"video_id": "card", "uri": masters["testsrc2"]},
               {"video_id": "fractal", "uri": masters["mandelbrot"]}]
    jobs = [j for e in entries for j in ladder.ExpandRungs([40], own).process(e)]
    assert [(e["video_id"], crf) for e, crf in jobs] == [
        ("card", None), ("card", 26), ("card", 30), ("fractal", None), ("fractal", 26)]
    encode = ladder.EncodeRendition(str(tmp_path / "out"), "fast")
    rows = {r["video_id"]: r for job in jobs if job[1] is not None
            for r in encode.process(job)}
    options = {k: _x264_options(r["uri"]) for k, r in rows.items()}
    # ultrafast: CAVLC and the cheapest subpel search; slow: CABAC, subme 8; the
    # source's own ladder_preset (veryfast: subme 2) where the row names no rung presets
    assert "cabac=0" in options["card__crf26"] and " subme=0 " in options["card__crf26"]
    assert "cabac=1" in options["card__crf30"] and " subme=8 " in options["card__crf30"]
    assert " subme=2 " in options["fractal__crf26"]
    # each rendition names its preset, so pseudo_mos clamps the two presets apart
    assert {k: r["x264_preset"] for k, r in rows.items()} == {
        "card__crf26": "ultrafast", "card__crf30": "slow", "fractal__crf26": "veryfast"}


def test_ladder_presets_that_do_not_match_the_rungs_are_refused(tmp_path):
    from beam_pipelines import ladder

    cat = tmp_path / "sources.csv"
    cat.write_text("video_id,uri,ladder_crfs,ladder_presets\nv1,/a.mp4,20;30,slow\n")
    with pytest.raises(ValueError, match=r"'v1'.*one preset for each of the distinct"):
        ladder.per_source_ladders(str(cat))


def test_ladder_heights_make_a_multi_size_ladder_measured_at_the_source_size(masters, tmp_path):
    """Each CRF rung also at the catalog's smaller heights (a height at or above the
    source's is skipped), VMAF measured at the source's size, display_height = the
    source's height, and the order clamp taken size by size."""
    from beam_pipelines import ladder
    from beam_pipelines.media import probe

    cat = tmp_path / "sources.csv"
    cat.write_text(f"video_id,uri,ladder_crfs,ladder_heights\n"
                   f"card,{masters['testsrc2']},22;40,60;120;240\n")
    out = tmp_path / "out"
    ladder.run([f"--catalog={cat}", f"--output_dir={out}", "--preset=ultrafast"])
    with open(out / "catalog.csv") as f:
        rows = {r["video_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"card", "card__crf22", "card__crf40", "card__h0060_crf22",
                         "card__h0060_crf40"}
    small = probe.probe_local(rows["card__h0060_crf22"]["uri"])
    assert (small.width, small.height) == (80, 60)
    assert rows["card__h0060_crf22"]["display_height"] == "120"
    assert rows["card__crf22"]["display_height"] == ""
    vmaf = {k: float(r["vmaf_raw"]) for k, r in rows.items()}
    # Half the rows and columns gone: far below the full-size rung at the same CRF.
    assert vmaf["card__h0060_crf22"] < vmaf["card__crf22"] - 10
    assert vmaf["card__h0060_crf40"] < vmaf["card__h0060_crf22"]
    with open(out / "ladder_stats.json") as f:
        assert json.load(f)["renditions"] == 4


def test_pseudo_mos_clamps_each_frame_size_apart():
    from beam_pipelines import ladder

    rows = [{"source_id": "s", "crf": None, "vmaf_raw": 99.0},
            {"source_id": "s", "crf": 20, "vmaf_raw": 90.0},
            {"source_id": "s", "crf": 20, "vmaf_raw": 40.0, "rung_height": 120},
            {"source_id": "s", "crf": 30, "vmaf_raw": 80.0},
            {"source_id": "s", "crf": 30, "vmaf_raw": 45.0, "rung_height": 120}]
    labelled, fixes = ladder.pseudo_mos(rows, "vmaf")
    got = {(r["crf"], r.get("rung_height")): r["vmaf"] for r in labelled}
    # The small chain is clamped within itself (45 -> 40), never to the full-size one.
    assert got == {(None, None): 99.0, (20, None): 90.0, (20, 120): 40.0,
                   (30, None): 80.0, (30, 120): 40.0}
    assert fixes == 1


def test_ladder_heights_that_are_not_heights_are_refused(tmp_path, capsys):
    from beam_pipelines import ladder

    cat = tmp_path / "sources.csv"
    cat.write_text("video_id,uri,ladder_heights\nv1,/a.mp4,720;big\n")
    with pytest.raises(ValueError, match=r"'v1'.*ladder_heights"):
        ladder.per_source_ladders(str(cat))
    with pytest.raises(SystemExit):  # the flag: a usage error that names it
        ladder.parse_args(["--catalog", str(cat), "--output_dir", str(tmp_path),
                           "--heights", "720,8"])
    assert "--heights '720,8' must be heights of at least 16 pixels" in capsys.readouterr().err
