r"""The main job, end to end on one machine: `make demo`.

1. Builds a sample ladder catalog at several resolutions (426×240, 640×360, 960×540,
   1280×720 and one portrait 360×640 by default): lossless masters made from ffmpeg's
   generators, scikit-image's bundled images (pan/zoom) or the procedural families
   `deadleaves` and `text` (`beam_pipelines.media.procedural`, panning), each encoded with
   H.264 at CRF 19, 24, ..., 49. The default contents are ones the bundled model never
   trained on (see `DEFAULT_LADDERS`).
   `OUTPUT_DIR/media/catalog.csv` lists every rendition; a ladder's `source_id` is
   `<content>_<W>x<H>`, a rendition's `video_id` `<source_id>_crf<N>`.
2. Scores the whole catalog with the bundled `cpllm_tiny` model on DirectRunner
   (`beam_pipelines.score`) into `OUTPUT_DIR/tables` (scores / failures / flip-rate
   Parquet tables).
3. Scores the ladders named by `--describe_ladders` (default: the first ladder of each
   resolution, 4 ladders) a second time with `--describe` into their own tables dir,
   `OUTPUT_DIR/described` (catalog
   `OUTPUT_DIR/media/catalog_described.csv`): the `description` column is filled there.
   The main tables stay a plain scoring run; describing costs a second, small run.
4. Writes the static HTML report `OUTPUT_DIR/tables/report.html` (`beam_pipelines.report
   --output_dir OUTPUT_DIR/tables --described_dir OUTPUT_DIR/described`): plots, worst
   ladders, key frames, failures, and a "Descriptions" section with each described
   video's key frames, score and description.

    python -m beam_pipelines.demo --output_dir demo_out

Sample media is cached under `OUTPUT_DIR/media` and reused by later runs.
"""

import argparse
import csv
import logging
import os
import sys
import time
import zlib

from beam_pipelines import ladder_defaults

# (content, width, height): content the bundled model never trained on. Its training
# data (beam_pipelines.sources) uses every scikit-image picture (as crops) and ffmpeg's
# testsrc2, mandelbrot, life, cellauto, gradients and smptehdbars, so the demo uses the
# generators `testsrc` and `rgbtestsrc` (not in training) and the held-out procedural
# families `deadleaves` and `text` (sources.HOLDOUT), at 960x540 (the held-out size) and
# four other sizes, one portrait.
DEFAULT_LADDERS = (
    ("deadleaves", 640, 360),
    ("rgbtestsrc", 640, 360),
    ("text", 640, 360),
    ("testsrc", 426, 240),
    ("text", 426, 240),
    ("text", 960, 540),
    ("deadleaves", 960, 540),
    ("deadleaves", 1280, 720),
    ("testsrc", 1280, 720),
    ("text", 360, 640),
)
# Contents drawn by beam_pipelines.media.procedural (the other names are
# beam_pipelines.media.samples.SOURCES).
PROCEDURAL = ("deadleaves", "text")
FPS = 24
DEFAULT_CRFS = ladder_defaults.DEMO_CRFS  # 19, 24, ..., 49: 7 rungs


def parse_ladders(spec: str) -> list[tuple[str, int, int]]:
    """'coffee:640x360,testsrc:426x240' -> [(content, width, height), ...]."""
    out = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        content, _, size = item.partition(":")
        try:
            w, h = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise ValueError(f"ladder {item!r}: expected CONTENT:WIDTHxHEIGHT") from None
        out.append((content, w, h))
    return out


def ladder_id(content: str, width: int, height: int) -> str:
    return f"{content}_{width}x{height}"


def default_described(ladders) -> list[str]:
    """The first ladder of each resolution, in catalog order."""
    ids, sizes = [], set()
    for content, w, h in ladders:
        if (w, h) not in sizes:
            sizes.add((w, h))
            ids.append(ladder_id(content, w, h))
    return ids


def procedural_spec(content: str, width: int, height: int, frames: int) -> dict:
    """A `sources.plan`-style spec of a procedural master: panning, no camera effects,
    seeded by the ladder id (the same ladder always gets the same picture)."""
    return {"family": content, "motion": "pan", "width": int(width), "height": int(height),
            "frames": int(frames), "seed": zlib.crc32(ladder_id(content, width, height).encode()),
            "noise": 0.0, "grain": 0.0, "blur": 0, "speed": 1.0, "picture": "",
            "generator": ""}


def make_master(dst: str, content: str, width: int, height: int, seconds: float) -> str:
    """Writes the lossless master of one ladder to `dst` (a procedural family or a
    `samples.SOURCES` name); returns `dst`."""
    from beam_pipelines.media import samples

    if content not in PROCEDURAL:
        return samples.make_clip(dst, content, seconds=seconds, size=(width, height),
                                 fps=FPS)
    from beam_pipelines import sources
    from beam_pipelines.media import procedural

    frames = procedural.render(procedural_spec(content, width, height,
                                               max(1, round(seconds * FPS))))
    tmp = dst + ".partial.mkv"
    sources.encode_lossless(frames, tmp, FPS)
    os.replace(tmp, dst)
    return dst


def write_catalog(path: str, rows: list[dict]) -> str:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in writer.fieldnames})
    return path


def build_catalog(media_dir, ladders, crfs, seconds):
    """Writes masters + ladders under `media_dir`; returns (catalog CSV path, rows)."""
    from beam_pipelines.media import samples

    os.makedirs(media_dir, exist_ok=True)
    rows = []
    for i, (content, w, h) in enumerate(ladders):
        source_id = ladder_id(content, w, h)
        master = os.path.join(media_dir, f"{source_id}_master.mkv")
        if not os.path.exists(master):
            make_master(master, content, w, h, seconds)
        rows.extend(samples.make_ladder(master, os.path.join(media_dir, source_id),
                                        list(crfs), source_id=source_id))
        print(f"[demo] media {i + 1}/{len(ladders)}: {source_id} ({len(crfs)} renditions)",
              flush=True)
    return write_catalog(os.path.join(media_dir, "catalog.csv"), rows), rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Build a sample ladder catalog at several resolutions, score it with "
        "the bundled model on DirectRunner, describe one ladder, write Parquet tables and "
        "an HTML report.")
    parser.add_argument("--output_dir", default="demo_out",
                        help="Where media, tables and the report go (default: demo_out).")
    parser.add_argument("--ladders",
                        default=",".join(f"{c}:{w}x{h}" for c, w, h in DEFAULT_LADDERS),
                        help="Comma-separated CONTENT:WIDTHxHEIGHT, one ladder each; "
                        "CONTENT from beam_pipelines.media.samples.SOURCES or a "
                        "procedural family: deadleaves, text.")
    parser.add_argument("--crfs", default=",".join(map(str, DEFAULT_CRFS)),
                        help="Comma-separated H.264 CRF rungs of each ladder.")
    parser.add_argument("--seconds", type=float, default=2.0, help="Clip length in seconds.")
    parser.add_argument("--model", default="cpllm_tiny", help="Preset name or directory.")
    parser.add_argument("--describe_ladders", default=None,
                        help="Comma-separated ladder source_ids (CONTENT_WxH) scored again "
                        "with --describe into OUTPUT_DIR/described (default: the first "
                        "ladder of each resolution; 'none': no described run).")
    parser.add_argument("--max_new_tokens", type=int, default=48,
                        help="Description length limit of the described run.")
    parser.add_argument("--describe", action="store_true",
                        help="Describe every video of the main run too (slower).")
    args = parser.parse_args(argv)

    logging.getLogger().setLevel(logging.WARNING)
    out = os.path.abspath(args.output_dir)
    ladders = parse_ladders(args.ladders)
    crfs = [int(c) for c in args.crfs.split(",") if c]
    start = time.time()

    media = os.path.join(out, "media")
    catalog, rows = build_catalog(media, ladders, crfs, args.seconds)
    print(f"[demo] catalog: {catalog} ({len(rows)} videos, {len(ladders)} ladders) "
          f"in {time.time() - start:.0f} s", flush=True)

    from beam_pipelines import score
    tables = os.path.join(out, "tables")
    score_argv = ["--catalog", catalog, "--output_dir", tables, "--model", args.model]
    if args.describe:
        score_argv += ["--describe", "--max_new_tokens", str(args.max_new_tokens)]
    score.run(score_argv)
    print(f"[demo] tables: {tables} ({time.time() - start:.0f} s)", flush=True)

    if args.describe_ladders is None:
        described_ids = default_described(ladders)
    elif args.describe_ladders.strip().lower() in ("", "none"):
        described_ids = []
    else:
        described_ids = [s.strip() for s in args.describe_ladders.split(",") if s.strip()]
    unknown = set(described_ids) - {r["source_id"] for r in rows}
    if unknown:
        raise ValueError(f"--describe_ladders {sorted(unknown)} not in the catalog")
    report_argv = ["--output_dir", tables]
    if described_ids:
        described = os.path.join(out, "described")
        described_catalog = write_catalog(
            os.path.join(media, "catalog_described.csv"),
            [r for r in rows if r["source_id"] in described_ids])
        score.run(["--catalog", described_catalog, "--output_dir", described, "--model",
                   args.model, "--describe", "--max_new_tokens", str(args.max_new_tokens)])
        print(f"[demo] described: {described} ({', '.join(described_ids)}; "
              f"{time.time() - start:.0f} s)", flush=True)
        report_argv += ["--described_dir", described]

    from beam_pipelines import report
    report_path = report.main(report_argv)
    print(f"[demo] report: {report_path or os.path.join(tables, 'report.html')}")
    print(f"[demo] done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
