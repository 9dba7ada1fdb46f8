"""Generated source catalog: many distinct lossless masters (Beam pipeline).

    python -m beam_pipelines.sources --output_dir DIR [--num_train 360] [--num_holdout 72] \
        [--seed 0] [--frames 20] [--fps 20] [--families graphics,...] [--id_prefix n24_] \
        [Beam options]

Each source is a spec drawn by `plan` (content family, motion, resolution, camera noise,
grain, motion blur, x264 preset and CRF rungs of its ladder), rendered by
`media.procedural.render` (or by an ffmpeg generator for family `lavfi`) and written as a
lossless H.264 master (`-qp 0`, 4:2:0, bit-exact). Training content comes only from
scikit-image's data images, the procedures in `media.procedural` and ffmpeg's own
generators.

Held-out sources are whole content families, a motion type and a resolution that never
occur in training (`HOLDOUT`): a held-out source has at least one of them, a training
source none.

Sources are named `<id_prefix><t|h><number in split, 4 digits>_<family>_<motion>_<W>x<H>`
(`source_name`); a build of another seed numbers its sources from 1 as well, so an
extension build names a prefix (`--id_prefix n24_`) to keep its names unique across
builds.

Output:
  DIR/masters/<source_id>.mkv
  DIR/catalog.csv   video_id, uri, source_id, family, motion, width, height, split,
                    ladder_preset, ladder_crfs (";"-separated), noise, grain, blur, seed,
                    picture, generator, ladder_presets (";"-separated, one per rung, or
                    empty) (input of `beam_pipelines.ladder`, which honours
                    ladder_preset, ladder_crfs and ladder_presets per source)
  DIR/failures/     dead letter (schemas.FAILURES_SCHEMA)
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import re

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from beam_pipelines import dead_letter, ladder_defaults, runner, schemas
from beam_pipelines.media import procedural

# Frame sizes (width, height): landscape 240p..1080p, 4:3, portrait and square.
SIZES = ((426, 240), (640, 360), (854, 480), (960, 540), (1280, 720), (1920, 1080),
         (640, 480), (360, 640), (720, 720))
SIZE_WEIGHTS = (3, 4, 3, 2, 2, 1, 2, 2, 1)
PRESETS = ("ultrafast", "veryfast", "fast", "medium")
# Mixed-preset training ladders (`--train_mixed_presets`): rungs alternate between a fast
# and a slow x264 preset, so same-source pairs compare the artifacts of two encoders.
FAST_PRESETS = ("ultrafast", "superfast", "veryfast", "faster")
SLOW_PRESETS = ("medium", "slow", "slower")
LAVFI = ("testsrc2", "mandelbrot", "life", "cellauto", "gradients", "smptehdbars")
# What the held-out set is made of: whole families, one motion, one frame size.
HOLDOUT = {"family": ("deadleaves", "text"), "motion": ("rotate",), "size": ((960, 540),)}
# Training ladders (shifted per source) and held-out ladders: beam_pipelines.ladder_defaults.
TRAIN_RUNGS = ladder_defaults.TRAIN_RUNGS
COARSE, FINE, HOLDOUT_RUNGS = ladder_defaults.COARSE, ladder_defaults.FINE, ladder_defaults.HOLDOUT_RUNGS
# The recorded builds' families and draw weights (changing them changes every plan).
FAMILIES = (*procedural.FAMILIES, "lavfi")
FAMILY_WEIGHTS = (4, 2, 2, 2, 2, 2, 1, 2, 1)
# What `--families` may name: the above and the families added since.
KNOWN_FAMILIES = (*FAMILIES, *procedural.EXTRA_FAMILIES)
CSV_COLUMNS = ("video_id", "uri", "source_id", "family", "motion", "width", "height",
               "split", "ladder_preset", "ladder_crfs", "noise", "grain", "blur", "seed",
               "picture", "generator", "ladder_presets")
_NAMESPACE = "cpllm.sources"
ID_PREFIX_RE = re.compile(r"[a-z0-9_]*")


def is_holdout(spec: dict) -> bool:
    return (spec["family"] in HOLDOUT["family"] or spec["motion"] in HOLDOUT["motion"]
            or (spec["width"], spec["height"]) in HOLDOUT["size"])


def holdout_reason(spec: dict) -> str:
    """The held-out group a source is reported under (first that applies)."""
    if spec["family"] in HOLDOUT["family"]:
        return "family:" + spec["family"]
    if spec["motion"] in HOLDOUT["motion"]:
        return "motion:" + spec["motion"]
    if (spec["width"], spec["height"]) in HOLDOUT["size"]:
        return f"size:{spec['width']}x{spec['height']}"
    return "train"


def _draw(rng: np.random.Generator, index: int, seed: int, frames: int,
          families: tuple[str, ...] = ()) -> dict:
    if families:
        fam = families[rng.integers(len(families))]
    else:
        fam = FAMILIES[rng.choice(len(FAMILIES),
                                  p=np.array(FAMILY_WEIGHTS) / sum(FAMILY_WEIGHTS))]
    w, h = SIZES[rng.choice(len(SIZES), p=np.array(SIZE_WEIGHTS) / sum(SIZE_WEIGHTS))]
    motion = procedural.MOTIONS[rng.integers(len(procedural.MOTIONS))]
    natural = fam in ("photo", "composite", "dark", "pinknoise")
    spec = {
        "family": fam, "motion": "generated" if fam == "lavfi" else motion,
        "width": int(w), "height": int(h), "frames": frames,
        "seed": int(seed * 100003 + index),
        "noise": float(round(rng.choice([0, 0, 0.01, 0.02, 0.04]) if natural else 0, 3)),
        "grain": float(round(rng.choice([0, 0, 0, 0.015, 0.03]), 3)),
        "blur": int(rng.choice([0, 0, 0, 2, 3])) if motion != "static" else 0,
        "speed": float(round(rng.uniform(0.5, 2.0), 2)),
        "ladder_preset": PRESETS[rng.integers(len(PRESETS))],
        "picture": (procedural.PICTURES[rng.integers(len(procedural.PICTURES))]
                    if fam == "photo" else ""),
        "generator": LAVFI[rng.integers(len(LAVFI))] if fam == "lavfi" else "",
    }
    return spec


def train_rungs(spec_seed: int, step: int) -> list[int]:
    """6 CRF rungs `step` apart inside 15..51, at a start drawn from the source's seed
    (`--train_rung_steps`: finer training ladders than TRAIN_RUNGS' 6-CRF spacing)."""
    start = int(np.random.default_rng(spec_seed).integers(15, 51 - 5 * step + 1))
    return [start + step * k for k in range(6)]


def mixed_presets(spec_seed: int, rungs: int) -> list[str]:
    """One x264 preset per rung, alternating between a fast and a slow one drawn from the
    source's seed (FAST_PRESETS, SLOW_PRESETS), which of the two starts drawn as well."""
    rng = np.random.default_rng([spec_seed, 1])
    pair = [FAST_PRESETS[rng.integers(len(FAST_PRESETS))],
            SLOW_PRESETS[rng.integers(len(SLOW_PRESETS))]]
    first = int(rng.integers(2))
    return [pair[(first + k) % 2] for k in range(rungs)]


def source_name(spec: dict, number: int, id_prefix: str = "") -> str:
    """`id_prefix` + "t0042_photo_zoom_360x640": split initial, number in the split,
    family, motion and frame size."""
    return (f"{id_prefix}{spec['split'][0]}{number:04d}_{spec['family']}_{spec['motion']}"
            f"_{spec['width']}x{spec['height']}")


def source_number(source_id: str, id_prefix: str = "") -> int:
    """The number in its split of a source named by `source_name` with `id_prefix`;
    ValueError if the name does not start with that prefix."""
    if not source_id.startswith(id_prefix):
        raise ValueError(f"source {source_id!r} does not start with id prefix {id_prefix!r}")
    return int(source_id[len(id_prefix) + 1:].split("_", 1)[0])


def plan(num_train: int, num_holdout: int, seed: int = 0, frames: int = 20, *,
         train_from: int = 1, train_rung_steps: tuple[int, ...] = (),
         families: tuple[str, ...] = (), train_mixed_presets: bool = False,
         id_prefix: str = "") -> list[dict]:
    """Deterministic list of source specs: `num_train` training, `num_holdout` held out.

    Specs are drawn at random (family, size, motion, camera effects, x264 preset) and
    sorted into the split their properties decide (`is_holdout`), until both are full.
    Training source n is the same whatever `num_holdout`, so `train_from=N` (training
    sources numbered below N left out) with `num_holdout=0` gives the sources a larger
    build adds to an earlier one of the same seed. Held-out source n is the same whatever
    `num_holdout`, but not whatever `num_train`: each counted training source draws its
    CRF shift from the same generator, so once the training split is full (at once with
    `num_train=0`) the held-out sources drawn after that point differ. The held-out split
    of a build with N training sources, alone: `num_train=N, train_from=N + 1`.
    `train_rung_steps`: those sources' ladders are 6 rungs a step apart (the step
    cycling through the tuple by source number, `train_rungs`) instead of TRAIN_RUNGS
    shifted by 0..6.
    `families`: draw only these (equally likely) instead of FAMILIES by FAMILY_WEIGHTS;
    a plan that names a held-out family fills only its held-out split.
    `train_mixed_presets`: training ladders also get `ladder_presets`, one x264 preset
    per rung (`mixed_presets`) in place of the source's one `ladder_preset`.
    `id_prefix`: starts every source_id and video_id (`source_name`), so that builds of
    different seeds, each numbering its sources from 1, do not share names; the sources
    are the same whatever the prefix.
    """
    check_families(families)
    check_id_prefix(id_prefix)
    if num_train and families and set(families) <= set(HOLDOUT["family"]):
        raise ValueError(f"families {families} are all held out: no training source "
                         "can be drawn")
    rng = np.random.default_rng(seed)
    out, counts, index = [], {"train": 0, "holdout": 0}, 0
    want = {"train": num_train, "holdout": num_holdout}
    while counts["train"] < num_train or counts["holdout"] < num_holdout:
        spec = _draw(rng, index, seed, frames, families)
        index += 1
        split = "holdout" if is_holdout(spec) else "train"
        if counts[split] >= want[split]:
            continue
        counts[split] += 1
        if split == "train":
            shift = int(rng.integers(0, 7))
            crfs = [min(51, c + shift) for c in TRAIN_RUNGS]
            if train_rung_steps:
                step = train_rung_steps[counts[split] % len(train_rung_steps)]
                crfs = train_rungs(spec["seed"], step)
            if train_mixed_presets:
                spec["ladder_presets"] = ";".join(mixed_presets(spec["seed"], len(crfs)))
        else:
            crfs = list(HOLDOUT_RUNGS)
        spec.update(split=split, ladder_crfs=";".join(map(str, crfs)))
        spec["source_id"] = source_name(spec, counts[split], id_prefix)
        spec["video_id"] = spec["source_id"]
        if split == "holdout" or counts[split] >= train_from:
            out.append(spec)
    return out


def check_families(families) -> None:
    """ValueError naming any of `families` that is not one of KNOWN_FAMILIES."""
    unknown = [f for f in families if f not in KNOWN_FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; known: {', '.join(KNOWN_FAMILIES)}")


def parse_families(text: str) -> tuple[str, ...]:
    """"graphics,cartoon" -> ("graphics", "cartoon"), each one of KNOWN_FAMILIES."""
    fams = tuple(x.strip() for x in text.split(",") if x.strip())
    try:
        check_families(fams)
    except ValueError as e:  # argparse shows an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(e)) from None
    return fams


def check_id_prefix(id_prefix: str) -> None:
    """ValueError unless `id_prefix` is only lowercase letters, digits and underscores."""
    if not ID_PREFIX_RE.fullmatch(id_prefix):
        raise ValueError(f"id prefix {id_prefix!r} may hold only lowercase letters, digits "
                         "and underscores (e.g. n24_)")


def parse_id_prefix(text: str) -> str:
    """`--id_prefix`: "n24_" as is, checked by `check_id_prefix`."""
    try:
        check_id_prefix(text)
    except ValueError as e:  # argparse shows an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def parse_steps(text: str) -> tuple[int, ...]:
    """"2,3,4" -> (2, 3, 4); each step must fit 6 rungs into CRF 15..51."""
    steps = tuple(int(x) for x in text.split(",") if x.strip())
    if any(not 1 <= s <= 7 for s in steps):
        raise argparse.ArgumentTypeError(f"rung steps must be 1..7 CRF, got {text!r}")
    return steps


def encode_lossless(frames: np.ndarray, dst: str, fps: int) -> None:
    """uint8[N, H, W, 3] -> lossless bit-exact H.264 master at `dst` (local path)."""
    from beam_pipelines.media import ffmpeg_bin

    _, h, w, _ = frames.shape
    ffmpeg_bin.run(
        ["-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0", "-c:v", "libx264",
         "-preset", "ultrafast", "-threads", "1", "-qp", "0", "-pix_fmt", "yuv420p",
         "-g", str(2 * fps), "-map_metadata", "-1", "-fflags", "+bitexact",
         "-flags:v", "+bitexact", "-y", "file:" + os.path.abspath(dst)],
        timeout_s=600, check=True, input_bytes=np.ascontiguousarray(frames).tobytes())


def render_master(spec: dict, out_dir: str, fps: int) -> str:
    """Writes out_dir/masters/<source_id>.mkv (kept when it exists); returns its path."""
    from beam_pipelines.media import ffmpeg_bin, samples

    dst = os.path.abspath(os.path.join(out_dir, "masters", f"{spec['source_id']}.mkv"))
    if os.path.exists(dst):
        return dst
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = dst + ".partial.mkv"
    if spec["family"] == "lavfi":
        w, h = spec["width"], spec["height"]
        src = samples.GENERATOR_SOURCES[spec["generator"]].format(w=w, h=h, fps=fps)
        ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", src,
                        "-frames:v", str(spec["frames"]), "-c:v", "libx264",
                        "-preset", "ultrafast", "-threads", "1", "-qp", "0",
                        "-pix_fmt", "yuv420p", "-map_metadata", "-1", "-fflags",
                        "+bitexact", "-flags:v", "+bitexact", "-y", "file:" + tmp],
                       timeout_s=600, check=True)
    else:
        encode_lossless(procedural.render(spec), tmp, fps)
    os.replace(tmp, dst)
    return dst


class RenderMaster(beam.DoFn):
    """spec -> catalog row of its written master; failures to the 'failures' output."""

    def __init__(self, output_dir, fps):
        self.output_dir = output_dir
        self.fps = fps
        self.rendered = Metrics.counter(_NAMESPACE, "masters_rendered")

    def process(self, spec):
        try:
            uri = render_master(spec, self.output_dir, self.fps)
        except Exception as e:  # noqa: BLE001 - every failure goes to the dead letter
            yield dead_letter.tagged(dead_letter.failure_from_exception(
                spec["video_id"], spec["source_id"], e, "decode"))
            return
        self.rendered.inc()
        yield dict(spec, uri=uri)


def to_csv_line(row: dict) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([row.get(c, "") for c in CSV_COLUMNS])
    return buf.getvalue()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", required=True, help="Output directory (local).")
    parser.add_argument("--num_train", type=int, default=360, help="Training sources.")
    parser.add_argument("--num_holdout", type=int, default=72, help="Held-out sources.")
    parser.add_argument("--seed", type=int, default=0, help="Plan and render seed.")
    parser.add_argument("--frames", type=int, default=20, help="Frames per master.")
    parser.add_argument("--fps", type=int, default=20, help="Frame rate of the masters.")
    parser.add_argument("--train_from", type=int, default=1,
                        help="Leave out training sources numbered below this (they are in "
                             "an earlier build of the same seed); with --num_holdout 0 "
                             "this grows a build.")
    parser.add_argument("--train_rung_steps", type=parse_steps, default=(),
                        help="Comma-separated CRF steps (e.g. 2,3,4): training ladders of "
                             "6 rungs that far apart inside 15..51, the step cycling by "
                             "source; default TRAIN_RUNGS (6 apart) shifted by 0..6.")
    parser.add_argument("--families", type=parse_families, default=(),
                        help="Comma-separated content families to draw, equally likely "
                             f"(of {', '.join(KNOWN_FAMILIES)}); default the recorded "
                             "builds' families and weights (none of the families added since: "
                             f"{', '.join(procedural.EXTRA_FAMILIES)}).")
    parser.add_argument("--train_mixed_presets", action="store_true",
                        help="Training ladders alternate a fast and a slow x264 preset "
                             "rung by rung (sources.mixed_presets), so that same-source "
                             "pairs compare two encoders' artifacts; default one preset "
                             "per source.")
    parser.add_argument("--id_prefix", type=parse_id_prefix, default="",
                        help="Prefix of every source_id and video_id (lowercase letters, "
                             "digits, underscores; e.g. n24_): a build of another seed "
                             "numbers its sources from t0001/h0001 too, so an extension "
                             "build needs one for its names to be unique across builds "
                             "(the trainer refuses a video_id in two builds); default none.")
    return parser.parse_known_args(argv)


def run(argv=None, test_pipeline=None):
    """Builds and runs the source pipeline; returns the PipelineResult."""
    opts, pipeline_args = parse_args(argv)
    options = PipelineOptions(pipeline_args)
    out = os.path.abspath(opts.output_dir)
    specs = plan(opts.num_train, opts.num_holdout, opts.seed, opts.frames,
                 train_from=opts.train_from, train_rung_steps=opts.train_rung_steps,
                 families=opts.families, train_mixed_presets=opts.train_mixed_presets,
                 id_prefix=opts.id_prefix)
    p = test_pipeline or beam.Pipeline(runner=runner.offline_runner(options), options=options)
    rendered = (
        p
        | "PlanSources" >> beam.Create(specs)
        | "Reshuffle" >> beam.Reshuffle()
        | "RenderMaster" >> beam.ParDo(RenderMaster(out, opts.fps)).with_outputs(
            dead_letter.FAILURES, main="rows")
    )
    _ = (rendered.rows
         | "FormatCsv" >> beam.Map(to_csv_line)
         | "WriteCatalog" >> beam.io.WriteToText(
             FileSystems.join(out, "catalog"), file_name_suffix=".csv",
             shard_name_template="", header=",".join(CSV_COLUMNS)))
    _ = rendered.failures | "WriteFailures" >> beam.io.WriteToParquet(
        FileSystems.join(out, "failures", "failures"), schemas.FAILURES_SCHEMA,
        file_name_suffix=".parquet")
    result = p.run()
    result.wait_until_finish()
    return result


def main(argv=None):
    logging.getLogger().setLevel(logging.INFO)
    run(argv)


if __name__ == "__main__":
    # Run the importable module, not __main__: DoFns pickled from __main__ look up
    # their module's globals in the worker's __main__, which lacks them
    # (multi_processing workers, Dataflow).
    from beam_pipelines import sources as _pipeline  # noqa: PLW0406
    _pipeline.main()
