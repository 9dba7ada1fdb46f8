"""beam_pipelines.report: the HTML report from Parquet tables with the DESIGN schema
(rows written with pyarrow for real tiny encoded videos); every <img src> must exist."""
import datetime
import html
import html.parser
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from beam_pipelines import dead_letter, flip_rate, rate_quality, report, schemas, tables
from beam_pipelines.media import ffmpeg_bin, probe

K = 4
DURATION = 1.0
# source -> {crf: score}; "ball" has one flip (CRF 30 scored above CRF 20).
LADDERS = {"ball": {20: 70.0, 30: 74.0, 40: 40.0}, "grid": {20: 80.0, 30: 65.0, 40: 50.0}}
# Targets of the fixture's ladder_advice table: ball meets 60 only, grid 60 and 75.
TARGETS = (60.0, 75.0, 90.0)


class _Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def img_srcs(page: str) -> list[str]:
    p = _Images()
    p.feed(page)
    return p.srcs


@pytest.fixture(scope="session")
def scoring_output(tmp_path_factory):
    """An output dir with scores / failures / flip_rate / ladder_summary / ladder_advice
    shards for 6 real H.264 clips (bitrates probed from the files)."""
    root = tmp_path_factory.mktemp("report_run")
    sources = {"ball": "testsrc2=size=96x72:rate=12", "grid": "mandelbrot=size=96x72:rate=12"}
    now = datetime.datetime.now(datetime.UTC)
    times = [(i + 0.5) * DURATION / K for i in range(K)]
    rows = []
    for source, crfs in LADDERS.items():
        for crf, score in crfs.items():
            uri = str(root / f"{source}_crf{crf}.mp4")
            ffmpeg_bin.run(["-v", "error", "-f", "lavfi", "-i", sources[source], "-t",
                            str(DURATION), "-c:v", "libx264", "-preset", "ultrafast", "-crf",
                            str(crf), "-pix_fmt", "yuv420p", uri], timeout_s=60, check=True)
            kbps, kbps_source = probe.probe(uri).bitrate()
            rows.append({
                "video_id": f"{source}_{crf}", "uri": uri, "source_id": source, "crf": crf,
                "ladder_id": source, "bitrate_kbps": kbps, "bitrate_source": kbps_source,
                "score": score, "frame_scores": [score - 1, score + 1, score, score],
                "frame_times_s": times,
                "description": f"A <synthetic> {source} clip. Test pattern. CRF {crf}.",
                "width": 96, "height": 72, "duration_s": DURATION, "fps": 12.0,
                "codec": "h264", "model_id": "cpllm_tiny", "scored_at": now})
    out = root / "tables"
    out.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.SCORES_SCHEMA),
                   out / "scores-00000-of-00001.parquet")
    failures = [dead_letter.failure_row("broken", str(root / "broken.mp4"), "probe", "NotAVideo",
                                    "no video stream found", 1)]
    pq.write_table(pa.Table.from_pylist(failures, schema=schemas.FAILURES_SCHEMA),
                   out / "failures-00000-of-00001.parquet")
    flips = flip_rate.flip_rate_rows((r["source_id"], r["crf"], r["score"]) for r in rows)
    pq.write_table(pa.Table.from_pylist(flips, schema=schemas.FLIP_RATE_SCHEMA),
                   out / "flip_rate-00000-of-00001.parquet")
    results, errors = rate_quality.ladder_results(rows, TARGETS)
    assert set(results) == {("ball", "ball"), ("grid", "grid")} and not errors
    pq.write_table(pa.Table.from_pylist([r.summary for r in results.values()],
                                        schema=schemas.LADDER_SUMMARY_SCHEMA),
                   out / "ladder_summary-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist([a for r in results.values() for a in r.advice],
                                        schema=schemas.LADDER_ADVICE_SCHEMA),
                   out / "ladder_advice-00000-of-00001.parquet")
    return str(out)


def check_images(report_path: str) -> list[str]:
    page = Path(report_path).read_text(encoding="utf-8")
    srcs = img_srcs(page)
    for src in srcs:
        path = os.path.join(os.path.dirname(report_path), src)
        assert os.path.isfile(path), f"{src} referenced but missing"
        with Image.open(path) as im:
            im.verify()
    return srcs


def test_report_builds_with_plots_thumbnails_and_tables(scoring_output, tmp_path):
    path = report.main(["--output_dir", scoring_output, "--report_dir", str(tmp_path)])
    assert path == os.path.join(str(tmp_path), "report.html")
    srcs = check_images(path)
    assert {"report_files/score_vs_crf.png", "report_files/flip_rate.png",
            "report_files/score_distribution.png",
            "report_files/worst_ladders.png"} <= set(srcs)
    strips = [s for s in srcs if s.startswith("report_files/frames_")]
    # every rendition of both ladders, shown in the key-frames section and again (the same
    # JPEG) in the Descriptions section
    assert len(set(strips)) == 6 and len(strips) == 12
    with Image.open(os.path.join(str(tmp_path), strips[0])) as im:
        # K frames of 96x72 (scaled to 72 rows) side by side with 2-px gaps
        assert im.size == (K * 96 + (K - 1) * 2, 72)
    page = Path(path).read_text(encoding="utf-8")
    assert "CRF 20 → 30: 70.00 → 74.00" in page  # the one flipped pair of "ball"
    assert "1 / 1 / 0" not in page and "6 / 1 / 0" in page  # pairs / flips / ties
    assert "A &lt;synthetic&gt; ball clip." in page  # descriptions, escaped
    assert "<synthetic>" not in page
    assert "no video stream found" in page and "NotAVideo" in page
    # worst ladders: only "ball" has a flip (1 of 3 pairs)
    worst = page.split("<h2>Worst ladders</h2>")[1].split("<h2>")[0]
    assert ">ball<" in worst and ">grid<" not in worst and ">0.333<" in worst


def _section(page: str, title: str) -> str:
    return page.split(f"<h2>{title}</h2>")[1].split("<h2>")[0]


def test_report_rate_quality_per_title(scoring_output, tmp_path):
    path = report.main(["--output_dir", scoring_output, "--report_dir", str(tmp_path),
                        "--no_thumbnails"])
    srcs = check_images(path)
    assert {"report_files/rate_quality_000.png", "report_files/rate_quality_001.png"} <= set(
        srcs)
    assert {"report_files/score_vs_crf.png", "report_files/worst_ladders.png"} <= set(srcs)
    section = _section(Path(path).read_text(encoding="utf-8"), "Rate–quality per title")
    assert "<h3>ball</h3>" in section and "<h3>grid</h3>" in section
    advice = tables.read_table(scoring_output, "ladder_advice")
    assert len(advice) == 2 * len(TARGETS)
    for a in advice:
        if a["met"]:
            cells = (f"<td>{a['cheapest_video_id']}, CRF {a['crf']}, 96×72</td>"
                     f"<td class='num'>{a['bitrate_kbps']:.1f}</td>"
                     f"<td class='num'>{a['score']:.2f}</td>"
                     f"<td class='num'>{100 * a['savings_fraction']:.1f} %</td>")
            assert cells in section, a
        else:  # a target no rung meets is shown, not dropped
            assert f"<td class='num'>{a['target_score']:g}</td><td>no</td>" in section
            assert html.escape(a["reason"], quote=True) in section
    # ball: >= 60 met by CRF 30 (74, fewer bits than CRF 20), 75 and 90 not met
    ball = {a["target_score"]: a for a in advice if a["source_id"] == "ball"}
    assert ball[60.0]["crf"] == 30 and not ball[75.0]["met"] and not ball[90.0]["met"]


def test_rate_quality_plot_has_a_log_bitrate_axis_and_marks_hull_and_advice(
        scoring_output, tmp_path):
    titles = report.rate_quality_titles(tables.read_table(scoring_output, "scores"),
                                        tables.read_table(scoring_output, "ladder_summary"),
                                        tables.read_table(scoring_output, "ladder_advice"))
    assert set(titles) == {"ball", "grid"}
    for source, title in titles.items():
        drawn = report.plot_rate_quality(source, title, str(tmp_path / f"{source}.png"))
        (lad,) = title.values()
        points = {r["video_id"]: (r["bitrate_kbps"], r["score"]) for r in lad["rungs"]}
        assert drawn["xscale"] == "log"
        assert sorted(drawn["hull"]) == sorted(points[v] for v in lad["summary"][
            "hull_video_ids"])
        assert len(drawn["hull"]) + len(drawn["off_hull"]) == 3
        assert sorted(drawn["advised"]) == sorted(
            {(a["bitrate_kbps"], a["score"]) for a in lad["advice"] if a["met"]})
        with Image.open(tmp_path / f"{source}.png") as im:
            im.verify()


def test_report_recomputes_rate_quality_without_the_ladder_tables(scoring_output, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("scores", "failures", "flip_rate"):
        src = os.path.join(scoring_output, f"{name}-00000-of-00001.parquet")
        (run / os.path.basename(src)).write_bytes(Path(src).read_bytes())
    path = report.build_report(str(run), thumbnails=False)
    check_images(path)
    section = _section(Path(path).read_text(encoding="utf-8"), "Rate–quality per title")
    # the default targets 70, 80, 90: ball meets 70, grid 70 and 80
    for target in rate_quality.DEFAULT_TARGETS:
        assert section.count(f"<td class='num'>{target:g}</td>") == 2
    scores = tables.read_table(str(run), "scores")
    results, _ = rate_quality.ladder_results(scores)
    for res in results.values():
        for a in res.advice:
            if a["met"]:
                assert f"<td>{a['cheapest_video_id']}, CRF {a['crf']}" in section


def test_two_encoders_ladders_of_one_source_are_two_lines(scoring_output):
    rows = tables.read_table(scoring_output, "scores")
    ball = [r for r in rows if r["source_id"] == "ball"]
    other = [{**r, "video_id": r["video_id"] + "_x265", "ladder_id": "x265",
              "score": r["score"] - 30} for r in ball]
    by_ladder = report.ladders(ball + other)
    assert set(by_ladder) == {"ball", "ball [x265]"}
    # ball's one flip (CRF 20 -> 30) only; x265's CRF 30 (44) is never compared with
    # ball's CRF 20 (70) or its CRF 40 (40) with x265's CRF 20 (40)
    assert [(a["crf"], b["crf"]) for a, b in report.flipped_pairs(by_ladder["ball"])] == [
        (20, 30)]
    titles = report.rate_quality_titles(ball + other, [], [])
    assert set(titles) == {"ball"} and set(titles["ball"]) == {"ball", "x265"}


def test_report_without_ladders_or_reachable_videos(scoring_output, tmp_path):
    rows = pq.read_table(os.path.join(scoring_output, "scores-00000-of-00001.parquet"))
    rows = rows.to_pylist()[:2]
    for r in rows:
        r.update(source_id=None, crf=None, uri=r["uri"] + ".gone.mp4")
    out = tmp_path / "run"
    out.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.SCORES_SCHEMA),
                   out / "scores-00000-of-00001.parquet")
    path = report.build_report(str(out))
    srcs = check_images(path)
    assert srcs == ["report_files/score_distribution.png"]
    page = Path(path).read_text(encoding="utf-8")
    assert "No ladder" in page and "key frames not decoded again" in page
    assert "No failures" in page


def test_report_on_a_directory_without_tables_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a scoring run's output directory"):
        report.build_report(str(tmp_path))
    assert not (tmp_path / "report.html").exists()


def test_report_from_a_real_scoring_run(pipeline_output, tmp_path):
    path = report.main(["--output_dir", pipeline_output, "--report_dir", str(tmp_path)])
    srcs = check_images(path)
    strips = [s for s in srcs if s.startswith("report_files/frames_")]
    scores = tables.read_table(pipeline_output, "scores")
    assert len(scores) == 6
    assert len(strips) == 6  # every scored video gets its key frames (max_videos 12)
    k = len(scores[0]["frame_times_s"])
    with Image.open(os.path.join(str(tmp_path), strips[0])) as im:
        # K frames of 96x64 scaled to the default 72 rows (108x72), 2-px gaps
        assert im.size == (k * 108 + (k - 1) * 2, 72)
    page = Path(path).read_text(encoding="utf-8")
    assert "report_files/score_vs_crf.png" in srcs and "report_files/flip_rate.png" in srcs
    # the pipeline's own ladder tables: one rate-quality plot per title, every target
    assert {"report_files/rate_quality_000.png", "report_files/rate_quality_001.png"} <= set(
        srcs)
    advice = tables.read_table(pipeline_output, "ladder_advice")
    assert len(advice) == 2 * len(rate_quality.DEFAULT_TARGETS)
    section = _section(page, "Rate–quality per title")
    assert section.count("<td class='num'>80</td>") == 2
    assert "gone.mp4" in page and "VideoNotFound" in page  # the failures table
    assert "videos scored</td><td>6<" in page
    # Ladder consistency: the page says how many scores it moved (the bundled preset's
    # fitted weight moves every rung of the two 3-rung ladders).
    moved = sum(r["score"] != r["score_alone"] for r in scores)
    assert moved == 6
    assert f"{moved} of 6 scores are read against the other renditions" in page


def _described_blocks(page: str) -> list[str]:
    section = page.split("<h2>Descriptions</h2>")[1].split("<h2>")[0]
    return section.split("<div class='video described'>")[1:]


def test_report_descriptions_next_to_key_frames(scoring_output, tmp_path):
    """The Descriptions section: one block per described video (its own rows and those of
    a --described_dir), the escaped description next to an existing key-frame <img>."""
    scores = pq.read_table(os.path.join(scoring_output, "scores-00000-of-00001.parquet"))
    rows = scores.to_pylist()
    main_run, described_run = tmp_path / "main", tmp_path / "described"
    main_run.mkdir()
    described_run.mkdir()
    plain = [{**r, "description": None} for r in rows]
    pq.write_table(pa.Table.from_pylist(plain, schema=schemas.SCORES_SCHEMA),
                   main_run / "scores-00000-of-00001.parquet")
    ball = [r for r in rows if r["source_id"] == "ball"]
    pq.write_table(pa.Table.from_pylist(ball, schema=schemas.SCORES_SCHEMA),
                   described_run / "scores-00000-of-00001.parquet")

    path = report.main(["--output_dir", str(main_run), "--described_dir",
                        str(described_run)])
    check_images(path)
    page = Path(path).read_text(encoding="utf-8")
    blocks = _described_blocks(page)
    assert len(blocks) == len(ball) == 3
    for r in ball:
        block = next(b for b in blocks if f"<b>{r['video_id']}</b>" in b)
        assert "A &lt;synthetic&gt; ball clip." in block and f"CRF {r['crf']}" in block
        assert f"score <b>{r['score']:.2f}</b>" in block
        assert re.search(r"<img src='report_files/frames_\d+\.jpg'", block)
    assert ">ball <span" in page  # one heading per described ladder
    assert "videos described</td><td>3 (from " in page
    assert "96×72 (6)" in page  # resolutions in the summary

    # without --described_dir and without descriptions: a note, no block
    path = report.build_report(str(main_run), str(tmp_path / "plain"))
    page = Path(path).read_text(encoding="utf-8")
    assert _described_blocks(page) == [] and "No video has a description" in page


@pytest.mark.parametrize("lo, hi, want", [
    (200, 4000, ["200", "300", "500", "1000", "2000", "3000"]),  # 900 beside 1000 overlapped
    (7, 20, ["7", "8", "9", "10", "20"]),                        # under a decade: every tick
])
def test_log_bitrate_ticks_are_plain_numbers_that_do_not_crowd(lo, hi, want):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    report._plain_log_ticks(ax.xaxis, lo, hi)
    fig.canvas.draw()
    shown = [(t.get_loc(), t.label1.get_text()) for t in
             ax.xaxis.get_major_ticks() + ax.xaxis.get_minor_ticks()]
    plt.close(fig)
    assert [text for loc, text in sorted(shown) if text and lo <= loc <= hi] == want


def test_a_ladder_of_several_frame_sizes_carries_the_warning(tmp_path):
    for sizes, warned in (([(640, 360)] * 3, False),
                          ([(1920, 1080), (1280, 720), (640, 360)], True)):
        scores = [{"video_id": f"v{i}", "source_id": "t", "ladder_id": "t", "crf": 23 + i,
                   "bitrate_kbps": 100.0 * (3 - i), "score": 60.0 - i, "width": w,
                   "height": h} for i, (w, h) in enumerate(sizes)]
        titles = report.rate_quality_titles(scores, [], [])  # summarised from the scores
        files = tmp_path / str(warned)
        files.mkdir()
        page = "".join(report._rate_quality_section(titles, str(files)))
        assert (report.MIXED_SIZES_NOTE in page) == warned
        assert f"<td class='num'>{len(set(sizes))}</td>" in page  # the frame sizes column
        # a ladder_summary table written before the column: counted from the rungs
        for ladder in titles["t"].values():
            del ladder["summary"]["frame_sizes"]
        (files / "old").mkdir()
        page = "".join(report._rate_quality_section(titles, str(files / "old")))
        assert (report.MIXED_SIZES_NOTE in page) == warned


def test_a_ladder_scored_at_display_size_says_so():
    """Every rung scored as shown at 1080 rows: the note names the display height; one
    rung at its own size (or a display height under the tallest rung): the own-size
    warning."""
    sizes = [(1920, 1080), (1280, 720), (640, 360)]

    def ladder(shown):
        return {"rungs": [{"width": w, "height": h, "display_height": d}
                          for (w, h), d in zip(sizes, shown)]}

    assert report._mixed_sizes_note(ladder([1080] * 3)) == \
        report.DISPLAY_SIZES_NOTE.format(height=1080)
    assert "1080 rows" in report._mixed_sizes_note(ladder([1080] * 3))
    assert report._mixed_sizes_note(ladder([None, 1080, 1080])) == report.MIXED_SIZES_NOTE
    assert report._mixed_sizes_note(ladder([720] * 3)) == report.MIXED_SIZES_NOTE
