r"""A static HTML report of one scoring run (no server, no JavaScript).

    python -m beam_pipelines.report --output_dir OUT [--report_dir DIR] [--max_videos 12] \
        [--described_dir DESCRIBED ...]

Reads the scoring pipeline's tables in OUT (`scores-*.parquet`, `failures-*.parquet`,
`flip_rate-*.parquet`, `ladder_summary-*.parquet`, `ladder_advice-*.parquet`; local or
gs://) and writes `report.html` plus `report_files/`
(matplotlib PNGs, key-frame JPEG strips) to DIR (default: OUT, which must then be local).
Each `--described_dir` is the output dir of another scoring run made with `--describe`
(`make demo` describes one ladder that way, in its own dir, so the main tables stay one
plain run); only its scores table is read, for the "Descriptions" section. Sections:

- summary: videos scored / failed, resolutions, sources, models, overall flip rate,
  videos described;
- score against CRF per source, one line per ladder;
- rate–quality per title: score against bitrate (log axis), one line per ladder_id, the
  convex-hull rungs filled and joined, the other rungs hollow, the advised rung of each
  target starred, with the ladder summary and advice tables (from the ladder_summary /
  ladder_advice tables; recomputed from the scores with the default targets when a run
  has none of them, e.g. scores written by another tool);
- flip rate by CRF difference (bars, with pair and tie counts);
- score distribution;
- score timeline of the videos scored by segment (`score --segment_seconds`): segment
  score against segment start, one line per video, the worst segment marked, with a
  table (mean score, worst segment, segments);
- the worst ladders (highest flip rate) with each flipped pair;
- key-frame thumbnails next to scores (and descriptions): the key frames are decoded again
  at the row's `frame_times_s` with ffmpeg (one small JPEG strip per video);
- descriptions: every video with a description (rows of OUT's scores table with one, then
  those of each `--described_dir`; one per video_id, first seen wins), grouped by ladder,
  each with its key-frame strip, score and the HTML-escaped description;
- the failures table.

Every image the HTML references is written before the HTML; a video whose frames cannot be
decoded again gets a text note instead of an image.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import html
import logging
import os
import sys

import numpy as np

from beam_pipelines import ladder_pairs, tables

_LOG = logging.getLogger("cpllm.report")
FILES_DIR = "report_files"
WORST_LADDERS = 5
MAX_FAILURE_ROWS = 200
MAX_TABLE_SOURCES = 50
MAX_RATE_PLOTS = 24
MAX_TIMELINES = 12  # videos per timeline plot (the ones with the lowest worst segment)
MAX_STRIP_FRAMES = 24  # longer key-frame lists (segmented videos) get no strip


# ----------------------------------------------------------------------------- tables


def ladder_name(source_id, ladder_id) -> str:
    """The ladder's label: its source_id, plus ` [ladder_id]` when the ladder_id is not
    the default (the source_id)."""
    if ladder_id in (None, "", source_id):
        return str(source_id)
    return f"{source_id} [{ladder_id}]"


def ladders(scores: list[dict]) -> dict[str, list[dict]]:
    """Ladder label (`ladder_name`) -> its renditions sorted by CRF (rows without
    source_id/crf left out). One ladder per (source_id, ladder_id): two encoders'
    ladders of a source are two lines, never one."""
    out = collections.defaultdict(list)
    for r in scores:
        if r.get("source_id") not in (None, "") and r.get("crf") is not None:
            out[ladder_name(r["source_id"], r.get("ladder_id"))].append(r)
    return {s: sorted(rs, key=lambda r: (r["crf"], r["video_id"]))
            for s, rs in sorted(out.items())}


def flipped_pairs(ladder: list[dict]) -> list[tuple[dict, dict]]:
    """(lower-CRF row, higher-CRF row) pairs where the higher CRF scored strictly higher
    (`ladder_pairs` flips), of one ladder's rows sorted by CRF."""
    pairs = ladder_pairs.ladder_pairs((r["crf"], r["score"], r) for r in ladder)
    return [(p.item_low, p.item_high) for p in pairs if p.flip]


def flip_rate_by_crf_diff(flip_rows: list[dict]) -> list[tuple[int, int, int, int]]:
    """(crf_diff, pairs, flips, ties) from the all-sources pair rows of the flip-rate
    table, pooled over pairs with the same crf_high - crf_low."""
    from beam_pipelines import schemas

    pooled = collections.defaultdict(lambda: [0, 0, 0])
    for r in flip_rows:
        if r["source_id"] == schemas.ALL_SOURCES and r["level"] == schemas.LEVEL_PAIR:
            c = pooled[r["crf_high"] - r["crf_low"]]
            c[0] += r["pairs"]
            c[1] += r["flips"]
            c[2] += r["ties"]
    return [(d, *pooled[d]) for d in sorted(pooled)]


def rate_quality_titles(scores: list[dict], summary_rows: list[dict],
                        advice_rows: list[dict]) -> dict[str, dict[str, dict]]:
    """source_id -> ladder_id -> {"rungs": renditions with a bitrate, by bitrate;
    "hull": hull video_ids; "advice": ladder_advice rows by target; "summary": the
    ladder_summary row}.

    From the run's ladder_summary / ladder_advice tables when it has any rows; else
    recomputed from the scores (`rate_quality.ladder_results`, default targets). Ladders
    that could not be summarised (a failure row at stage `ladder`) are left out."""
    from beam_pipelines import rate_quality

    if summary_rows:
        summaries = {(r["source_id"], r["ladder_id"]): r for r in summary_rows}
        advice = collections.defaultdict(list)
        for r in advice_rows:
            advice[(r["source_id"], r["ladder_id"])].append(r)
    else:
        results, _ = rate_quality.ladder_results(scores)
        summaries = {k: res.summary for k, res in results.items()}
        advice = {k: res.advice for k, res in results.items()}
    rungs = collections.defaultdict(list)
    for r in scores:
        key = rate_quality.ladder_key(r)
        if key in summaries and rate_quality.usable_bitrate(r.get("bitrate_kbps")):
            rungs[key].append(r)
    out = collections.defaultdict(dict)
    for key in sorted(summaries):
        if rungs.get(key):
            out[key[0]][key[1]] = {
                "rungs": sorted(rungs[key], key=lambda r: (r["bitrate_kbps"], r["video_id"])),
                "hull": list(summaries[key]["hull_video_ids"] or []),
                "advice": sorted(advice.get(key, []), key=lambda r: r["target_score"]),
                "summary": summaries[key],
            }
    return dict(out)


# ----------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_score_vs_crf(by_source: dict[str, list[dict]], path: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    many = len(by_source) > 12
    for source, ladder in by_source.items():
        ax.plot([r["crf"] for r in ladder], [r["score"] for r in ladder], marker="o",
                markersize=3 if many else 5, linewidth=1 if many else 1.6,
                alpha=0.45 if many else 0.9, label=None if many else source)
    ax.set_xlabel("CRF (higher = stronger compression)")
    ax.set_ylabel("score (higher = better)")
    ax.set_title(f"Score against CRF, one line per ladder ({len(by_source)} ladders)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    if not many:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_flip_rate(by_diff: list[tuple[int, int, int, int]], path: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    x = np.arange(len(by_diff))
    rates = [f / p for _, p, f, _ in by_diff]
    ties = [t / p for _, p, _, t in by_diff]
    ax.bar(x - 0.2, rates, width=0.4, color="#c0392b", label="flip rate")
    ax.bar(x + 0.2, ties, width=0.4, color="#95a5a6", label="tie rate")
    for xi, (_, p, f, _) in zip(x, by_diff):
        ax.annotate(f"{f}/{p}", (xi - 0.2, f / p), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [f"Δ{d}" for d, *_ in by_diff])
    ax.set_xlabel("CRF difference within a pair")
    ax.set_ylabel("fraction of pairs")
    ax.set_ylim(0, max(0.05, max(rates + ties) * 1.25))
    ax.set_title("Flip rate by CRF difference (higher CRF scored strictly higher)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_score_distribution(scores: list[dict], path: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.4), dpi=100)
    values = np.array([r["score"] for r in scores], dtype=np.float64)
    ax.hist(values, bins=min(40, max(5, len(values) // 2)), color="#2c7fb8",
            edgecolor="white")
    ax.axvline(np.median(values), color="black", linestyle="--", linewidth=1,
               label=f"median {np.median(values):.1f}")
    ax.set_xlabel("score")
    ax.set_ylabel("videos")
    ax.set_title(f"Score distribution ({len(values)} videos)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def segmented_videos(scores: list[dict]) -> list[dict]:
    """Rows scored by segment (non-empty `segment_scores`), lowest worst segment first."""
    rows = [r for r in scores if r.get("segment_scores")]
    return sorted(rows, key=lambda r: (r.get("worst_segment_score", min(r["segment_scores"])),
                                       r["video_id"]))


def plot_score_timeline(rows: list[dict], path: str) -> None:
    """Segment score against segment start (s), one step line per video (each segment's
    score held over its span, the last one to the video's end), its worst segment
    marked with a red x."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for r in rows:
        starts = [float(t) for t in r["segment_starts_s"]]
        values = [float(v) for v in r["segment_scores"]]
        end = max(float(r.get("duration_s") or starts[-1]), starts[-1])
        line, = ax.step(starts + [end], values + [values[-1]], where="post", linewidth=1.4,
                        label=f"{r['video_id']} (mean {r['score']:.1f})")
        ax.plot(starts, values, "o", markersize=3, color=line.get_color())
        worst = int(np.argmin(values))
        ax.plot([starts[worst]], [values[worst]], "x", color="#c0392b", markersize=9,
                markeredgewidth=2)
    ax.plot([], [], "x", color="#c0392b", markersize=9, markeredgewidth=2,
            label="worst segment")
    ax.set_xlabel("segment start (s)")
    ax.set_ylabel("segment score (higher = better)")
    ax.set_title(f"Score timeline of long videos ({len(rows)} scored by segment)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _timeline_section(scores: list[dict], files: str) -> list[str]:
    rows = segmented_videos(scores)
    if not rows:
        return ["<p class='note'>No video was scored by segment (score with "
                "<code>--segment_seconds N</code> to score videos longer than N seconds "
                "segment by segment).</p>"]
    shown = rows[:MAX_TIMELINES]
    plot_score_timeline(shown, os.path.join(files, "score_timeline.png"))
    out = [_img(f"{FILES_DIR}/score_timeline.png", "score timeline of long videos"),
           "<p class='note'>A segmented video's score is the mean of its segment scores "
           "(each segment: the mean of its K key frames); the worst segment is given "
           "apart.</p>"]
    out.append(_table(
        ["video_id", "duration s", "segment s", "segments", "score (mean)",
         "worst segment start s", "worst segment score", "best segment score"],
        [[r["video_id"], _fmt(r.get("duration_s"), 1), _fmt(r.get("segment_seconds"), 0),
          len(r["segment_scores"]), _fmt(r["score"]), _fmt(r.get("worst_segment_start_s"), 1),
          _fmt(r.get("worst_segment_score")), _fmt(max(r["segment_scores"]))]
         for r in rows[:MAX_TABLE_SOURCES]], num_cols=range(1, 8)))
    if len(rows) > len(shown):
        out.append(f"<p class='note'>Plot: the {len(shown)} of {len(rows)} segmented "
                   f"videos with the lowest worst segment.</p>")
    return out


def plot_worst_ladders(worst: list[tuple[str, list[dict], list]], path: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=100)
    for source, ladder, flips in worst:
        ax.plot([r["crf"] for r in ladder], [r["score"] for r in ladder],
                          marker="o", label=source)
        for a, b in flips:
            ax.plot([a["crf"], b["crf"]], [a["score"], b["score"]], color="red",
                    linewidth=2.5, alpha=0.6)
    ax.plot([], [], color="red", linewidth=2.5, alpha=0.6, label="flipped pair")
    ax.set_xlabel("CRF")
    ax.set_ylabel("score")
    ax.set_title("Worst ladders, flipped pairs in red")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plain_log_ticks(axis, lo: float, hi: float) -> None:
    """Labels a log axis 40, 60, 100 rather than 4x10^1, all in one size; over more than a
    decade only 1, 2, 3 and 5 times a power of ten, so neighbours never overlap."""
    import math

    from matplotlib.ticker import FuncFormatter

    wide = math.log10(max(hi, 1e-9) / max(lo, 1e-9)) > 1.0

    def label(v, _):
        if v <= 0:
            return ""
        mantissa = round(v / 10 ** math.floor(math.log10(v) + 1e-9))
        return f"{v:g}" if not wide or mantissa in (1, 2, 3, 5) else ""

    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(FuncFormatter(label))
    axis.set_tick_params(which="both", labelsize=7)


def plot_rate_quality(source: str, title_ladders: dict[str, dict], path: str) -> dict:
    """Score against bitrate (log axis) of one title: a thin line through each ladder's
    rungs in bitrate order, its hull rungs filled and joined by a thick line, the other
    rungs hollow, each advised rung starred and labelled with the targets it meets.
    Returns what was drawn: {"xscale", "hull": [(kbps, score)], "off_hull": [...],
    "advised": [...]}."""
    drawn = {"hull": [], "off_hull": [], "advised": []}
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (ladder_id, lad) in enumerate(title_ladders.items()):
        color = colors[i % len(colors)]
        rungs, hull = lad["rungs"], set(lad["hull"])
        x = [r["bitrate_kbps"] for r in rungs]
        y = [r["score"] for r in rungs]
        ax.plot(x, y, color=color, linewidth=0.8, alpha=0.5)
        on = [r for r in rungs if r["video_id"] in hull]
        off = [r for r in rungs if r["video_id"] not in hull]
        drawn["hull"] += [(r["bitrate_kbps"], r["score"]) for r in on]
        drawn["off_hull"] += [(r["bitrate_kbps"], r["score"]) for r in off]
        ax.plot([r["bitrate_kbps"] for r in on], [r["score"] for r in on], color=color,
                linewidth=2, marker="o", markersize=7, label=f"{ladder_id}: hull")
        if off:
            ax.plot([r["bitrate_kbps"] for r in off], [r["score"] for r in off],
                    linestyle="none", marker="o", markersize=7, markerfacecolor="white",
                    markeredgecolor=color, label=f"{ladder_id}: off the hull")
        for r in rungs:
            if r.get("crf") is not None:
                ax.annotate(f"{r['crf']}", (r["bitrate_kbps"], r["score"]), fontsize=7,
                            textcoords="offset points", xytext=(4, -10), color="#555")
        advised = collections.defaultdict(list)
        for a in lad["advice"]:
            if a["met"]:
                advised[(a["bitrate_kbps"], a["score"])].append(a["target_score"])
        drawn["advised"] += list(advised)
        for (kbps, score), targets in advised.items():
            ax.plot([kbps], [score], linestyle="none", marker="*", markersize=16,
                    color=color, markeredgecolor="black", zorder=5)
            ax.annotate("≥" + ",".join(f"{t:g}" for t in targets), (kbps, score),
                        fontsize=8, textcoords="offset points", xytext=(6, 6))
    ax.plot([], [], linestyle="none", marker="*", markersize=12, color="#888",
            markeredgecolor="black", label="advised for target (≥ score)")
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis, *ax.get_xlim())
    ax.set_xlabel("bitrate, kb/s (log scale)")
    ax.set_ylabel("score (higher = better)")
    ax.set_title(f"Rate–quality of {source} (numbers: CRF)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    drawn["xscale"] = ax.get_xscale()
    plt.close(fig)
    return drawn


# ----------------------------------------------------------------------------- frames


def keyframe_strip(uri: str, times_s: list[float], path: str, *, height: int = 72,
                   timeout_s: float = 60.0) -> list[float]:
    """Decodes the key frames of `uri` again and saves them side by side as one JPEG,
    uint8[height, sum(W_i) + gaps, 3]; returns the times decoded.

    `media.keyframes.decode_keyframes` with K = len(times_s) gives the scoring pipeline's
    own frame times (t_i = (i + 0.5) * D / K) and handles rotation, HDR and short videos;
    frames are decoded at most 8 * height on their longer side, then resized.
    """
    from PIL import Image

    from beam_pipelines.media import keyframes

    if not times_s:
        raise ValueError("no key-frame times")
    kf = keyframes.decode_keyframes(uri, k=len(times_s), max_side=8 * height,
                                    timeout_s=timeout_s)
    gap = np.full((height, 2, 3), 255, dtype=np.uint8)
    parts = []
    for frame in kf.frames:
        h, w = frame.shape[:2]
        width = max(1, round(w * height / h))
        parts += [np.asarray(Image.fromarray(frame).resize((width, height),
                                                           Image.Resampling.BILINEAR)), gap]
    Image.fromarray(np.concatenate(parts[:-1], axis=1)).save(path, quality=85)
    return [float(t) for t in kf.times_s]


# ----------------------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1100px;color:#222;padding:0 16px}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:1.8em}
table{border-collapse:collapse;font-size:0.9em;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.flip{color:#c0392b;font-weight:600}.note{color:#666;font-size:0.9em}.warn{color:#7a4100;background:#fff4e0;padding:4px 8px}
.video{display:flex;gap:16px;align-items:flex-start;border-bottom:1px solid #eee;
padding:8px 0}.video img{max-width:640px;border:1px solid #ccc}
.desc{max-width:420px}h3{font-size:1.1em;margin-bottom:4px}
.description{white-space:pre-wrap;overflow-wrap:anywhere}code{background:#f4f4f4;padding:1px 4px}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(v, digits=2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _table(header: list[str], rows: list[list], num_cols=()) -> str:
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(
            f"<td class='num'>{_e(v)}</td>" if i in num_cols else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _img(rel: str, alt: str) -> str:
    return f"<img src='{_e(rel)}' alt='{_e(alt)}'>"


def _picture(r: dict, files: str, cache: dict, *, thumbnails: bool,
             thumb_height: int) -> tuple[str, list[float]]:
    """(HTML of the row's key-frame strip or a note, the times to caption it with).

    One JPEG per (uri, frame times): a video shown in two sections reuses its strip."""
    times = [float(t) for t in (r.get("frame_times_s") or [])]
    if not thumbnails:
        return "<p class='note'>thumbnails off</p>", times
    if len(times) > MAX_STRIP_FRAMES:  # a video scored by segment: see the timeline
        return (f"<p class='note'>{len(times)} key frames ({len(r.get('segment_scores') or [])}"
                f" segments): no strip; see the score timeline</p>", times)
    key = (r["uri"], tuple(times))
    if key not in cache:
        name = f"frames_{len(cache):03d}.jpg"
        try:
            decoded = keyframe_strip(r["uri"], times, os.path.join(files, name),
                                     height=thumb_height)
            shown = (decoded if np.max(np.abs(np.subtract(decoded, times))) > 0.05
                     else times)  # caption what is shown
            cache[key] = (_img(f"{FILES_DIR}/{name}", f"key frames of {r['video_id']}"),
                          shown)
        except Exception as e:  # noqa: BLE001  any failure only costs the picture
            _LOG.warning("no thumbnails for %s: %s", r["uri"], e)
            cache[key] = (f"<p class='note'>key frames not decoded again: "
                          f"{_e(type(e).__name__)}: {_e(e)}</p>", times)
    return cache[key]


def _resolutions(scores: list[dict]) -> str:
    sizes = collections.Counter((r.get("width"), r.get("height")) for r in scores
                                if r.get("width") and r.get("height"))
    return ", ".join(f"{w}×{h} ({n})" for (w, h), n in
                     sorted(sizes.items(), key=lambda t: (t[0][0] * t[0][1], t[0]))) or "?"


def _advice_cells(ladder_id: str, a: dict) -> list:
    if not a["met"]:
        return [ladder_id, f"{a['target_score']:g}", "no", a.get("reason") or "", "", "", ""]
    rung = (f"{a['cheapest_video_id']}"
            + (f", CRF {a['crf']}" if a.get("crf") is not None else "")
            + (f", {a['width']}×{a['height']}" if a.get("width") else ""))
    return [ladder_id, f"{a['target_score']:g}", "yes", rung, _fmt(a["bitrate_kbps"], 1),
            _fmt(a["score"]), f"{100 * a['savings_fraction']:.1f} %"]


def _frame_sizes(ladder: dict) -> int:
    """The ladder_summary's `frame_sizes`; for tables written before that column, counted
    from the rungs the report holds (those with a bitrate)."""
    from beam_pipelines import rate_quality

    n = ladder["summary"].get("frame_sizes")
    return len(rate_quality.frame_sizes(ladder["rungs"])) if n is None else n


def _summary_cells(ladder_id: str, ladder: dict) -> list:
    summary = ladder["summary"]
    kbps = f"{summary['min_bitrate_kbps']:.1f} – {summary['max_bitrate_kbps']:.1f}"
    score = f"{summary['min_score']:.2f} – {summary['max_score']:.2f}"
    return [ladder_id, summary["rungs"], _frame_sizes(ladder), kbps, score,
            summary["hull_rungs"], f"{summary['flips']} / {summary['crf_pairs']}"]


MIXED_SIZES_NOTE = (
    "<p class='note warn'>This title's ladder holds rungs of several frame sizes. The model "
    "scored each rendition at its own resolution: it sees how clean the pixels are, not "
    "the detail a downscale removed, so it does not rank rungs of different sizes like "
    "VMAF at display size does, and the hull and advice across sizes can favour a small "
    "rung (docs/EVALUATION.md, BENCHMARKS.md \"Rungs of several frame sizes\"). Compare "
    "rungs of one size, or check the choice with a full-reference metric.</p>")
DISPLAY_SIZES_NOTE = (
    "<p class='note warn'>This title's ladder holds rungs of several frame sizes, scored "
    "as shown at {height} rows (display_height: each smaller rung enlarged first). The "
    "bundled model was not trained on enlarged rungs, and a version that was still put a "
    "smaller rung over the next larger one in about a fifth of cases (BENCHMARKS.md "
    "\"Seen at display size\"): check a choice across sizes with a full-reference "
    "metric.</p>")


def _mixed_sizes_note(ladder: dict) -> str:
    """The warning for a ladder of several frame sizes: scored at display size when every
    rung was scored as shown at a height at least its tallest rung's, else at own size."""
    rungs = ladder["rungs"]
    tallest = max((r.get("height") or 0) for r in rungs)
    shown = {r.get("display_height") for r in rungs}
    if len(shown) == 1 and None not in shown and min(shown) >= tallest:
        return DISPLAY_SIZES_NOTE.format(height=int(shown.pop()))
    return MIXED_SIZES_NOTE


def _rate_quality_section(titles: dict, files: str) -> list[str]:
    """HTML of the rate–quality section: per title a score-vs-bitrate plot, its
    ladders' summary and the advice per target (every target, met or not)."""
    if not titles:
        return [("<p class='note'>No ladder with bitrates: no scored video has a "
                 "source_id and a bitrate_kbps (or its ladder could not be summarised: see "
                 "the failures, stage ladder).</p>")]
    body = [("<p class='note'>Score against bitrate per title. Filled rungs joined by a "
             "thick line: the convex hull (no mix of other rungs of the ladder gives as "
             "much score for as few bits); hollow: off the hull; stars: the cheapest rung "
             "meeting each target score. Savings are against the ladder's highest-bitrate "
             "rung.</p>")]
    for n, (source, title_ladders) in enumerate(list(titles.items())[:MAX_RATE_PLOTS]):
        name = f"rate_quality_{n:03d}.png"
        plot_rate_quality(source, title_ladders, os.path.join(files, name))
        body.append(f"<h3>{_e(source)}</h3>"
                    + _img(f"{FILES_DIR}/{name}", f"score against bitrate of {source}"))
        body.append(_table(
            ["ladder", "rungs", "frame sizes", "kb/s", "score", "hull rungs",
             "adjacent-CRF flips"],
            [_summary_cells(lid, lad) for lid, lad in title_ladders.items()],
            num_cols=(1, 2, 5)))
        mixed = [lad for lad in title_ladders.values() if _frame_sizes(lad) > 1]
        if mixed:
            body.append(_mixed_sizes_note(mixed[0]))
        rows = [_advice_cells(lid, a) for lid, lad in title_ladders.items()
                for a in lad["advice"]]
        if rows:
            body.append(_table(["ladder", "target", "met", "cheapest rung", "kb/s", "score",
                                "saving"], rows, num_cols=(1, 4, 5, 6)))
    if len(titles) > MAX_RATE_PLOTS:
        body.append(f"<p class='note'>First {MAX_RATE_PLOTS} of {len(titles)} titles; all "
                    "are in the ladder_summary and ladder_advice tables.</p>")
    return body


def described_videos(scores: list[dict], described_dirs=()) -> list[dict]:
    """Rows with a non-empty description: `scores`' own, then each described dir's; one
    per video_id (first seen wins), sorted by (source_id, crf, video_id)."""
    rows, seen = [], set()
    for table in [scores, *(tables.read_table(d, "scores") for d in described_dirs)]:
        for r in table:
            if (r.get("description") or "").strip() and r["video_id"] not in seen:
                seen.add(r["video_id"])
                rows.append(r)
    return sorted(rows, key=lambda r: (str(r.get("source_id") or ""),
                                       -1 if r.get("crf") is None else r["crf"],
                                       r["video_id"]))


def select_videos(scores, worst, max_videos: int) -> list[dict]:
    """Videos shown with thumbnails: renditions of the worst ladders, then videos with a
    description, then the lowest-scored videos; at most `max_videos`."""
    chosen, seen = [], set()
    candidates = [r for _, ladder, _ in worst for r in ladder]
    candidates += [r for r in scores if r.get("description")]
    candidates += sorted(scores, key=lambda r: r["score"])
    for r in candidates:
        if len(chosen) >= max_videos:
            break
        if r["video_id"] not in seen:
            seen.add(r["video_id"])
            chosen.append(r)
    return chosen


def build_report(output_dir: str, report_dir: str | None = None, *, max_videos: int = 12,
                 thumbnails: bool = True, thumb_height: int = 72, described_dirs=(),
                 max_described: int = 48) -> str:
    """Writes report.html (+ report_files/) for the tables in `output_dir` (and the
    descriptions of the scoring runs in `described_dirs`); returns its path."""
    from beam_pipelines import flip_rate as flip_rate_lib

    report_dir = report_dir or output_dir
    if "://" in report_dir:
        raise ValueError(f"the report is written to local disk; pass --report_dir for "
                         f"{report_dir!r}")
    scores = tables.read_table(output_dir, "scores")
    failures = tables.read_table(output_dir, "failures")
    if not scores and not failures:
        raise FileNotFoundError(f"no rows in scores-*.parquet or failures-*.parquet under "
                                f"{output_dir!r}: not a scoring run's output directory?")
    files = os.path.join(report_dir, FILES_DIR)
    os.makedirs(files, exist_ok=True)
    titles = rate_quality_titles(scores, tables.read_table(output_dir, "ladder_summary"),
                                 tables.read_table(output_dir, "ladder_advice"))
    flip_rows = tables.read_table(output_dir, "flip_rate")
    if not flip_rows and scores:  # e.g. a scores table written by another tool
        flip_rows = flip_rate_lib.flip_rate_rows(
            (r.get("source_id"), r.get("crf"), r["score"], r.get("ladder_id"))
            for r in scores)
    by_source = ladders(scores)
    by_diff = flip_rate_by_crf_diff(flip_rows)
    described = described_videos(scores, described_dirs)

    body = []
    pairs = sum(p for _, p, _, _ in by_diff)
    flips = sum(f for _, _, f, _ in by_diff)
    ties = sum(t for _, _, _, t in by_diff)
    stages = collections.Counter(r["stage"] for r in failures)
    models = sorted({r.get("model_id") for r in scores if r.get("model_id")})
    summary = [
        ["output directory", output_dir],
        ["videos scored", len(scores)],
        ["resolutions (videos)", _resolutions(scores)],
        ["videos failed", f"{len(failures)}" + (
            " (" + ", ".join(f"{k}: {v}" for k, v in sorted(stages.items())) + ")"
            if failures else "")],
        ["ladders (sources with CRF rungs)", len(by_source)],
        ["same-source pairs / flips / ties",
         f"{pairs} / {flips} / {ties}" if pairs else "no ladder"],
        ["overall flip rate", _fmt(flips / pairs, 3) if pairs else "n/a"],
        ["model", ", ".join(models) or "?"],
        ["videos described", f"{len(described)}" + (
            f" (from {', '.join(described_dirs)})" if described_dirs else "")],
    ]
    if scores:
        values = [r["score"] for r in scores]
        summary.append(["score min / median / max",
                        f"{min(values):.2f} / {np.median(values):.2f} / {max(values):.2f}"])
    body.append("<h2>Summary</h2>" + _table(["", ""], summary))

    body.append("<h2>Score against CRF</h2>")
    if by_source:
        plot_score_vs_crf(by_source, os.path.join(files, "score_vs_crf.png"))
        body.append(_img(f"{FILES_DIR}/score_vs_crf.png", "score against CRF per source"))
        crfs = sorted({r["crf"] for ladder in by_source.values() for r in ladder})
        rows = []
        for source, ladder in list(by_source.items())[:MAX_TABLE_SOURCES]:
            at = {r["crf"]: r["score"] for r in ladder}
            rows.append([source] + [_fmt(at.get(c)) for c in crfs])
        body.append(_table(["source"] + [f"CRF {c}" for c in crfs], rows,
                           num_cols=range(1, len(crfs) + 1)))
        if len(by_source) > MAX_TABLE_SOURCES:
            body.append(f"<p class='note'>First {MAX_TABLE_SOURCES} of {len(by_source)} "
                        f"sources; all are in the scores table.</p>")
    else:
        body.append("<p class='note'>No ladder: no scored video has both source_id and "
                    "crf.</p>")
    moved = sum(1 for r in scores
                if r.get("score_alone") is not None and r["score"] != r["score_alone"])
    if moved:
        body.append(f"<p class='note'>{moved} of {len(scores)} scores are read against the "
                    "other renditions of their source by how much fine detail each kept "
                    "(ladder consistency); the model's score of each video alone is the "
                    "scores table's score_alone.</p>")

    body.append("<h2>Rate–quality per title</h2>")
    body.extend(_rate_quality_section(titles, files))

    body.append("<h2>Flip rate by CRF difference</h2>")
    if by_diff:
        plot_flip_rate(by_diff, os.path.join(files, "flip_rate.png"))
        body.append(_img(f"{FILES_DIR}/flip_rate.png", "flip rate by CRF difference"))
        body.append(_table(
            ["CRF difference", "pairs", "flips", "ties", "flip rate"],
            [[d, p, f, t, _fmt(f / p, 3)] for d, p, f, t in by_diff], num_cols=range(5)))
    else:
        body.append("<p class='note'>No same-source pair with different CRFs.</p>")

    body.append("<h2>Score distribution</h2>")
    if scores:
        plot_score_distribution(scores, os.path.join(files, "score_distribution.png"))
        body.append(_img(f"{FILES_DIR}/score_distribution.png", "score distribution"))
    else:
        body.append("<p class='note'>No video was scored.</p>")

    body.append("<h2>Score timeline (long videos)</h2>")
    body.extend(_timeline_section(scores, files))

    ranked = []
    for source, ladder in by_source.items():
        n = len(ladder) * (len(ladder) - 1) // 2
        fl = flipped_pairs(ladder)
        if n and fl:
            ranked.append((len(fl) / n, len(fl), source, ladder, fl))
    ranked.sort(key=lambda t: (-t[0], -t[1], t[2]))
    worst = [(s, ladder, fl) for _, _, s, ladder, fl in ranked[:WORST_LADDERS]]
    body.append("<h2>Worst ladders</h2>")
    if worst:
        plot_worst_ladders(worst, os.path.join(files, "worst_ladders.png"))
        body.append(_img(f"{FILES_DIR}/worst_ladders.png", "worst ladders"))
        rows = []
        for rate, nflips, source, ladder, fl in ranked[:WORST_LADDERS]:
            rows.append([source, len(ladder), nflips, _fmt(rate, 3),
                         "; ".join(f"CRF {a['crf']} → {b['crf']}: {a['score']:.2f} → "
                                   f"{b['score']:.2f}" for a, b in fl) or "none"])
        body.append(_table(["source", "renditions", "flips", "flip rate",
                            "flipped pairs (lower CRF → higher CRF: scores)"], rows,
                           num_cols=(1, 2, 3)))
    else:
        body.append("<p>No ladder has a flipped pair.</p>" if by_source
                    else "<p class='note'>No ladder to rank.</p>")

    body.append("<h2>Key frames and scores</h2>")
    chosen = select_videos(scores, worst, max_videos)
    if not chosen:
        body.append("<p class='note'>No video was scored.</p>")
    strips = {}
    for r in chosen:
        picture, times = _picture(r, files, strips, thumbnails=thumbnails,
                                  thumb_height=thumb_height)
        frame_scores = list(r.get("frame_scores") or [])
        ladder_info = (f"source <b>{_e(r.get('source_id'))}</b>, CRF {_e(r.get('crf'))}, "
                       if r.get("source_id") is not None else "")
        body.append(
            f"<div class='video'><div>{picture}<div class='note'>key frames at "
            f"{_e(', '.join(f'{t:.2f}' for t in times))} s; frame scores "
            f"{_e(', '.join(f'{s:.1f}' for s in frame_scores))}</div></div>"
            f"<div class='desc'><b>{_e(r['video_id'])}</b><br>{ladder_info}"
            f"score <b>{r['score']:.2f}</b><br>"
            f"{_e(r.get('width'))}×{_e(r.get('height'))}, {_fmt(r.get('duration_s'))} s, "
            f"{_e(r.get('codec'))}"
            + (f"<p>{_e(r['description'])}</p>" if r.get("description") else "") +
            "</div></div>")

    body.append("<h2>Descriptions</h2>")
    if described:
        body.append("<p class='note'>The model's text description of each described video "
                    "next to the key frames it saw and its score.</p>")
        current = object()
        for r in described[:max_described]:
            if r.get("source_id") != current:
                current = r.get("source_id")
                body.append(f"<h3>{_e(current if current is not None else 'no ladder')}"
                            f" <span class='note'>{_e(r.get('width'))}×"
                            f"{_e(r.get('height'))}</span></h3>")
            picture, times = _picture(r, files, strips, thumbnails=thumbnails,
                                      thumb_height=thumb_height)
            crf = f"CRF {_e(r.get('crf'))}, " if r.get("crf") is not None else ""
            body.append(
                f"<div class='video described'><div>{picture}<div class='note'>key frames "
                f"at {_e(', '.join(f'{t:.2f}' for t in times))} s</div></div>"
                f"<div class='desc'><b>{_e(r['video_id'])}</b><br>{crf}"
                f"score <b>{r['score']:.2f}</b>"
                f"<p class='description'>{_e(r['description'])}</p></div></div>")
        if len(described) > max_described:
            body.append(f"<p class='note'>First {max_described} of {len(described)} "
                        f"described videos; all are in the scores tables.</p>")
    else:
        body.append("<p class='note'>No video has a description (score with "
                    "<code>--describe</code>, or pass <code>--described_dir</code>).</p>")

    body.append("<h2>Failures</h2>")
    if failures:
        shown = sorted(failures, key=lambda r: (r["stage"], str(r.get("video_id"))))
        body.append(_table(["video_id", "uri", "stage", "error", "message", "attempts"],
                           [[r.get("video_id"), r.get("uri"), r["stage"], r["error_type"],
                             r["message"], r["attempts"]]
                            for r in shown[:MAX_FAILURE_ROWS]], num_cols=(5,)))
        if len(failures) > MAX_FAILURE_ROWS:
            body.append(f"<p class='note'>{len(failures) - MAX_FAILURE_ROWS} more in the "
                        f"failures table.</p>")
    else:
        body.append("<p>No failures: every catalog row was scored.</p>")

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>cpllm quality report</title><style>{_CSS}</style></head><body>"
            f"<h1>Video quality report</h1><p class='note'>Generated {now} by "
            f"<code>python -m beam_pipelines.report</code> from <code>{_e(output_dir)}"
            f"</code>. Scores: higher is better; a flip is a pair of renditions of one "
            f"source where the higher CRF scored strictly higher.</p>"
            + "\n".join(body) + "</body></html>\n")
    path = os.path.join(report_dir, "report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description="Static HTML report of a scoring run.")
    parser.add_argument("--output_dir", required=True,
                        help="The scoring run's output dir (scores-*.parquet, ...).")
    parser.add_argument("--report_dir", default=None,
                        help="Where report.html goes (default: --output_dir).")
    parser.add_argument("--max_videos", type=int, default=12,
                        help="Videos shown with key-frame thumbnails.")
    parser.add_argument("--thumb_height", type=int, default=72)
    parser.add_argument("--no_thumbnails", action="store_true",
                        help="Do not decode key frames again (videos not reachable).")
    parser.add_argument("--described_dir", action="append", default=[],
                        help="Output dir of another scoring run made with --describe; its "
                        "descriptions go to the Descriptions section (repeatable).")
    parser.add_argument("--max_described", type=int, default=48,
                        help="Described videos shown (default 48).")
    args = parser.parse_args(argv)
    path = build_report(args.output_dir, args.report_dir, max_videos=args.max_videos,
                        thumbnails=not args.no_thumbnails, thumb_height=args.thumb_height,
                        described_dirs=args.described_dir,
                        max_described=args.max_described)
    print(f"[report] {path}")
    return path


if __name__ == "__main__":
    main()
    sys.exit(0)
