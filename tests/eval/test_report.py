"""beam_pipelines.report: the HTML report from Parquet tables with the DESIGN schema
(rows written with pyarrow for real tiny encoded videos); every <img src> must exist."""
import datetime
import html.parser
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from beam_pipelines import flip_rate, report, schemas
from beam_pipelines.media import ffmpeg_bin

K = 4
DURATION = 1.0
# source -> {crf: score}; "ball" has one flip (CRF 30 scored above CRF 20).
LADDERS = {"ball": {20: 70.0, 30: 74.0, 40: 40.0}, "grid": {20: 80.0, 30: 65.0, 40: 50.0}}


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
    """An output dir with scores / failures / flip_rate shards for 6 real H.264 clips."""
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
            rows.append({
                "video_id": f"{source}_{crf}", "uri": uri, "source_id": source, "crf": crf,
                "score": score, "frame_scores": [score - 1, score + 1, score, score],
                "frame_times_s": times,
                "description": f"A <synthetic> {source} clip. Test pattern. CRF {crf}.",
                "width": 96, "height": 72, "duration_s": DURATION, "fps": 12.0,
                "codec": "h264", "model_id": "cpllm_tiny", "scored_at": now})
    out = root / "tables"
    out.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.SCORES_SCHEMA),
                   out / "scores-00000-of-00001.parquet")
    failures = [schemas.failure_row("broken", str(root / "broken.mp4"), "probe", "NotAVideo",
                                    "no video stream found", 1)]
    pq.write_table(pa.Table.from_pylist(failures, schema=schemas.FAILURES_SCHEMA),
                   out / "failures-00000-of-00001.parquet")
    flips = flip_rate.flip_rate_rows((r["source_id"], r["crf"], r["score"]) for r in rows)
    pq.write_table(pa.Table.from_pylist(flips, schema=schemas.FLIP_RATE_SCHEMA),
                   out / "flip_rate-00000-of-00001.parquet")
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
    scores = report.read_table(pipeline_output, "scores")
    assert len(scores) == 6
    assert len(strips) == 6  # every scored video gets its key frames (max_videos 12)
    k = len(scores[0]["frame_times_s"])
    with Image.open(os.path.join(str(tmp_path), strips[0])) as im:
        # K frames of 96x64 scaled to the default 72 rows (108x72), 2-px gaps
        assert im.size == (k * 108 + (k - 1) * 2, 72)
    page = Path(path).read_text(encoding="utf-8")
    assert "report_files/score_vs_crf.png" in srcs and "report_files/flip_rate.png" in srcs
    assert "gone.mp4" in page and "VideoNotFound" in page  # the failures table
    assert "videos scored</td><td>6<" in page


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
