"""`make demo`'s job on a small catalog: media at two resolutions (one portrait, one
procedural `text` master) → scores/failures/flip-rate Parquet → a described ladder in its
own dir → report.

Checks structure only (the bundled model may be retrained): tables present, every catalog
row scored or failed, descriptions non-empty for the described ladder, and the report shows
each description next to its key-frame <img>."""
import csv
import glob
import html
import os
import re

import pyarrow.parquet as pq

from beam_pipelines import demo


def _table(directory, name):
    shards = glob.glob(os.path.join(directory, f"{name}-*.parquet"))
    assert shards, f"no {name}-*.parquet in {directory}"
    return pq.read_table(shards).to_pylist()


def test_parse_ladders():
    assert demo.parse_ladders("coffee:640x360, testsrc:360X640,") == [
        ("coffee", 640, 360), ("testsrc", 360, 640)]
    sizes = {(w, h) for _, w, h in demo.DEFAULT_LADDERS}
    assert {(426, 240), (640, 360), (960, 540), (1280, 720), (360, 640)} <= sizes
    assert list(demo.DEFAULT_CRFS) == [19, 24, 29, 34, 39, 44, 49]
    assert demo.default_described(demo.DEFAULT_LADDERS) == [
        "deadleaves_640x360", "testsrc_426x240", "text_960x540", "deadleaves_1280x720",
        "text_360x640"]


def test_default_contents_never_trained_on():
    from beam_pipelines import sources
    from beam_pipelines.media import samples

    contents = {c for c, _, _ in demo.DEFAULT_LADDERS}
    assert contents == {"testsrc", "rgbtestsrc", *demo.PROCEDURAL}
    # generators outside the training set, procedural families held out of training
    assert not contents & set(sources.LAVFI)
    assert set(demo.PROCEDURAL) <= set(sources.HOLDOUT["family"])
    assert {"testsrc", "rgbtestsrc"} <= set(samples.GENERATOR_SOURCES)
    assert sources.HOLDOUT["size"][0] in {(w, h) for _, w, h in demo.DEFAULT_LADDERS}
    # a procedural master is a sources-style spec, deterministic per ladder
    spec = demo.procedural_spec("text", 96, 64, 4)
    assert spec == demo.procedural_spec("text", 96, 64, 4)
    assert spec["seed"] != demo.procedural_spec("deadleaves", 96, 64, 4)["seed"]
    assert sources.is_holdout(spec)


def test_demo_writes_tables_descriptions_and_report(tmp_path):
    out = tmp_path / "demo"
    assert demo.main(["--output_dir", str(out), "--ladders", "testsrc:96x64,text:64x96",
                      "--crfs", "23,43", "--seconds", "1",
                      "--describe_ladders", "text_64x96", "--max_new_tokens", "8"]) == 0
    with open(out / "media" / "catalog.csv", newline="") as f:
        catalog = list(csv.DictReader(f))
    assert len(catalog) == 4

    tables = out / "tables"
    scores = _table(tables, "scores")
    failures = _table(tables, "failures")
    flips = _table(tables, "flip_rate")
    # every catalog row is in scores or failures
    assert {r["video_id"] for r in scores} | {r["video_id"] for r in failures} == {
        r["video_id"] for r in catalog}
    assert len(scores) == 4 and failures == []
    assert {(r["source_id"], r["crf"]) for r in scores} == {
        ("testsrc_96x64", 23), ("testsrc_96x64", 43), ("text_64x96", 23),
        ("text_64x96", 43)}
    assert {(r["source_id"], r["width"], r["height"]) for r in scores} == {
        ("testsrc_96x64", 96, 64), ("text_64x96", 64, 96)}
    assert sum(r["pairs"] for r in flips if r["source_id"] == "*" and r["level"] == "pair") == 2
    assert not any(r.get("description") for r in scores)  # main run: no --describe

    described = _table(out / "described", "scores")
    assert {r["video_id"] for r in described} == {"text_64x96_crf23", "text_64x96_crf43"}
    assert all((r["description"] or "").strip() for r in described)

    report = tables / "report.html"
    page = report.read_text(encoding="utf-8")
    section = page.split("<h2>Descriptions</h2>")[1].split("<h2>")[0]
    blocks = section.split("<div class='video described'>")[1:]
    assert len(blocks) == 2
    for r in described:
        block = next(b for b in blocks if f"<b>{r['video_id']}</b>" in b)
        assert html.escape(r["description"]) in block
        src = re.search(r"<img src='([^']+)'", block).group(1)
        assert os.path.getsize(tables / src) > 0
    assert "64×96 (2)" in page and "96×64 (2)" in page  # resolutions in the summary
