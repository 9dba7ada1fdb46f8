"""The tiny dataset's source plan (`sources.plan`: held-out families, motion and size
never in training) and make_tiny_dataset's blockdetect baseline on hand-made rows."""
import csv
import itertools
import os

import pytest

from beam_pipelines import make_tiny_dataset as mtd
from beam_pipelines import sources


def _crfs(spec):
    return [int(c) for c in spec["ladder_crfs"].split(";")]


def test_plan_is_deterministic_and_fills_both_splits():
    plan = sources.plan(num_train=60, num_holdout=20, seed=0, frames=8)
    assert plan == sources.plan(num_train=60, num_holdout=20, seed=0, frames=8)
    assert plan != sources.plan(num_train=60, num_holdout=20, seed=1, frames=8)
    train = [p for p in plan if p["split"] == "train"]
    holdout = [p for p in plan if p["split"] == "holdout"]
    assert len(train) == 60 and len(holdout) == 20
    assert len({p["source_id"] for p in plan}) == len(plan)
    assert all(p["video_id"] == p["source_id"] for p in plan)
    assert all(p["frames"] == 8 for p in plan)
    # the split is what the spec's properties decide
    assert all(sources.is_holdout(p) == (p["split"] == "holdout") for p in plan)


def test_plan_holds_out_families_motion_and_size():
    plan = sources.plan(num_train=200, num_holdout=60, seed=0)
    train = [p for p in plan if p["split"] == "train"]
    holdout = [p for p in plan if p["split"] == "holdout"]
    hold = sources.HOLDOUT
    assert hold["family"] == ("deadleaves", "text") and hold["motion"] == ("rotate",)
    assert hold["size"] == ((960, 540),)
    for p in train:
        assert p["family"] not in hold["family"]
        assert p["motion"] not in hold["motion"]
        assert (p["width"], p["height"]) not in hold["size"]
        assert sources.holdout_reason(p) == "train"
    for p in holdout:
        assert (p["family"] in hold["family"] or p["motion"] in hold["motion"]
                or (p["width"], p["height"]) in hold["size"])
        assert sources.holdout_reason(p) != "train"
    # every held-out group occurs in the held-out split
    reasons = {sources.holdout_reason(p).split(":")[0] for p in holdout}
    assert reasons == {"family", "motion", "size"}
    # training has every other family (ffmpeg generators included) and several sizes
    assert {p["family"] for p in train} == set(sources.FAMILIES) - set(hold["family"])
    assert len({(p["width"], p["height"]) for p in train}) >= 5


def test_plan_ladder_rungs():
    plan = sources.plan(num_train=100, num_holdout=30, seed=3)
    for p in plan:
        crfs = _crfs(p)
        assert crfs == sorted(set(crfs))
        assert p["ladder_preset"] in sources.PRESETS
        if p["split"] == "train":
            assert len(crfs) == len(sources.TRAIN_RUNGS)
            assert 15 <= crfs[0] and crfs[-1] <= 51
        else:
            assert crfs == sorted(set(sources.COARSE) | set(sources.FINE))
    train = [c for p in plan if p["split"] == "train" for c in _crfs(p)]
    assert min(train) == 15 and max(train) == 51  # the training ladders span 15..51
    assert sources.COARSE == tuple(range(19, 50, 5))
    assert sources.FINE == tuple(range(24, 37, 2))


def test_blockdetect_baseline_srcc():
    rows = []
    for s, sign in (("a", 1.0), ("b", -1.0)):
        for i, crf in enumerate(mtd.FINE):
            rows.append({"source_id": s, "crf": str(crf), "vmaf_raw": str(100 - 3 * i),
                         "blockiness": str(10 + sign * i)})
    out = mtd.blockdetect_baseline(rows)
    assert out["fine"]["renditions"] == 2 * len(mtd.FINE)
    assert out["fine"]["srcc_per_source"] == pytest.approx([1.0, -1.0])
    coarse_n = len(set(mtd.COARSE) & set(mtd.FINE))  # only shared CRFs exist in these rows
    assert coarse_n > 0
    assert out["coarse"]["renditions"] == 2 * coarse_n


def test_blockdetect_baseline_skips_non_finite():
    bad = mtd.COARSE[1]  # on both ladders
    assert bad in mtd.FINE
    rows = [{"source_id": "a", "crf": str(c), "vmaf_raw": str(100 - c),
             "blockiness": "inf" if c == bad else str(c)} for c in sources.HOLDOUT_RUNGS]
    out = mtd.blockdetect_baseline(rows)
    assert out["coarse"]["renditions"] == len(mtd.COARSE) - 1
    assert out["fine"]["renditions"] == len(mtd.FINE) - 1
    assert out["fine"]["srcc_pooled"] == pytest.approx(1.0)
    assert out["coarse"]["srcc_pooled"] == pytest.approx(1.0)  # more blocking, lower VMAF


def test_ladders_defined_once():
    """Every command's CRF default is beam_pipelines.ladder_defaults (issue 13 item 5)."""
    import subprocess
    import sys

    from beam_pipelines import demo, ladder, make_tiny_dataset
    from beam_pipelines import ladder_defaults as ld
    from trainer import config_lib, eval_families

    assert demo.DEFAULT_CRFS == ld.DEMO_CRFS and ladder.DEFAULT_CRFS == ld.LADDER_CRFS
    assert (make_tiny_dataset.COARSE, make_tiny_dataset.FINE) == (ld.COARSE, ld.FINE)
    assert (eval_families.COARSE, eval_families.FINE) == (ld.COARSE, ld.FINE)
    # eval_preset and eval_families define the same absl flags: not in one process.
    code = ("from absl import flags; from trainer import eval_preset as e; "
            "print(e.parse_ladders(flags.FLAGS['ladders'].default))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.stdout.strip() == str({"coarse": list(ld.COARSE), "fine": list(ld.FINE)}), (
        proc.stderr)
    config = config_lib.load_config(os.path.join(
        os.path.dirname(__file__), "..", "..", "..", "trainer", "configs", "cpllm_tiny.py"))
    assert dict(config.eval_ladders) == {"coarse": list(ld.COARSE), "fine": list(ld.FINE)}
    assert ld.as_range(ld.FINE) == "24:36:2"
    with pytest.raises(ValueError, match="evenly spaced"):
        ld.as_range(ld.HOLDOUT_RUNGS)


def test_plan_grows_a_build_with_finer_training_ladders():
    """`train_from` leaves out the sources an earlier build of the same seed has: the
    rest are exactly the larger plan's, with `train_rung_steps` ladders."""
    small = sources.plan(num_train=30, num_holdout=10, seed=0, frames=8)
    large = sources.plan(num_train=50, num_holdout=10, seed=0, frames=8)
    extra = sources.plan(num_train=50, num_holdout=0, seed=0, frames=8, train_from=31,
                         train_rung_steps=(2, 3, 4))
    assert [p for p in large if p["source_id"] in {q["source_id"] for q in small}] == small
    new = [p for p in large if p not in small]
    assert [p["source_id"] for p in extra] == [p["source_id"] for p in new]
    assert len(extra) == 20 and {p["split"] for p in extra} == {"train"}
    steps = set()
    for old, p in zip(new, extra):
        assert {k: v for k, v in p.items() if k != "ladder_crfs"} == {
            k: v for k, v in old.items() if k != "ladder_crfs"}
        crfs = _crfs(p)
        assert len(crfs) == 6 and 15 <= crfs[0] and crfs[-1] <= 51
        assert len({b - a for a, b in itertools.pairwise(crfs)}) == 1
        steps.add(crfs[1] - crfs[0])
        assert crfs == sources.train_rungs(p["seed"], crfs[1] - crfs[0])
    assert steps == {2, 3, 4}
    with pytest.raises(Exception, match="1..7"):
        sources.parse_steps("2,9")


def test_a_split_whose_ladder_made_no_rendition_fails_loudly(tmp_path):
    """Before: every rendition failing (e.g. an ffmpeg without libvmaf on PATH) ended in
    a build of 0 examples and exit status 0."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from beam_pipelines import dead_letter, schemas

    ladder_dir = tmp_path / "ladder_train"
    ladder_dir.mkdir()
    rows = [dead_letter.failure_row(f"t000{i}_crf19", f"/m/{i}.mkv", "ladder",
                                    "LadderError", "No such filter: 'libvmaf'")
            for i in (1, 2)]
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.FAILURES_SCHEMA),
                   ladder_dir / "failures-00000-of-00001.parquet")
    plan = [{"source_id": "t0001", "split": "train"}, {"source_id": "t0002", "split": "train"},
            {"source_id": "h0001", "split": "holdout"}]
    made = [{"source_id": "h0001", "split": "holdout"}]
    with pytest.raises(RuntimeError, match=r"ladder train: none of the 2 sources.*"
                                           r"2 x LadderError: No such filter: 'libvmaf'"):
        mtd.check_ladders_made_renditions(plan, made, str(tmp_path))
    mtd.check_ladders_made_renditions(plan, made + [{"source_id": "t0001", "split": "train"}],
                                      str(tmp_path))


def test_default_plan_is_the_recorded_one():
    # The recorded build (docs/TRAINING.md, seed 0): families added since must not move it.
    plan = sources.plan(num_train=4, num_holdout=3, seed=0, frames=12)
    assert [p["source_id"] for p in plan] == [
        "h0001_text_pan_640x360", "t0001_dark_objects_1280x720", "t0002_photo_zoom_360x640",
        "t0003_composite_zoom_854x480", "h0002_text_rotate_854x480",
        "h0003_text_rotate_1280x720", "t0004_pinknoise_pan_360x640"]
    for added in ("graphics", "illustration", "nature"):
        assert added not in sources.FAMILIES
        assert added in sources.KNOWN_FAMILIES


def test_plan_of_named_families_draws_only_those():
    plan = sources.plan(num_train=60, num_holdout=0, seed=1, families=("graphics",),
                        train_from=41)
    assert len(plan) == 20
    assert {p["family"] for p in plan} == {"graphics"}
    assert [int(p["source_id"][1:5]) for p in plan] == list(range(41, 61))
    assert all(p["split"] == "train" and not sources.is_holdout(p) for p in plan)
    mixed = sources.plan(num_train=60, num_holdout=0, seed=1,
                         families=("graphics", "illustration", "nature", "cartoon"))
    assert {p["family"] for p in mixed} == {"graphics", "illustration", "nature", "cartoon"}
    with pytest.raises(ValueError, match="unknown families"):
        sources.plan(num_train=1, num_holdout=0, families=("fonts",))
    with pytest.raises(ValueError, match="held out"):
        sources.plan(num_train=1, num_holdout=0, families=("text",))
    assert sources.parse_families(" graphics, cartoon ") == ("graphics", "cartoon")
    with pytest.raises(Exception, match="unknown families"):
        sources.parse_families("graphics,fonts")


def test_plan_with_mixed_presets_alternates_a_fast_and_a_slow_preset():
    kw = {"num_train": 40, "num_holdout": 10, "seed": 5, "frames": 8,
          "train_rung_steps": (2, 3, 4)}
    plain = sources.plan(**kw)
    mixed = sources.plan(**kw, train_mixed_presets=True)
    # the same sources and rungs: only the per-rung presets are added, to training sources
    assert [{k: v for k, v in p.items() if k != "ladder_presets"} for p in mixed] == plain
    assert all("ladder_presets" not in p for p in plain)
    pairs = set()
    for p in mixed:
        if p["split"] == "holdout":
            assert "ladder_presets" not in p
            continue
        presets = p["ladder_presets"].split(";")
        assert len(presets) == len(_crfs(p)) == 6
        assert presets == sources.mixed_presets(p["seed"], 6)
        assert presets[0::2] == [presets[0]] * 3 and presets[1::2] == [presets[1]] * 3
        fast, slow = sorted(presets[:2], key=lambda x: x not in sources.FAST_PRESETS)
        assert fast in sources.FAST_PRESETS and slow in sources.SLOW_PRESETS
        pairs.add((fast, slow))
    assert len(pairs) >= 5  # drawn per source, not one pair for the whole build


def test_held_out_sources_follow_the_training_count_and_train_from_rebuilds_them():
    """Training sources do not depend on num_holdout; held-out ones depend on num_train
    (each counted training source draws its CRF shift), and `train_from = num_train + 1`
    gives one build's held-out split alone."""
    def ids(plan, split):
        return [p["source_id"] for p in plan if p["split"] == split]

    full = sources.plan(num_train=40, num_holdout=12, seed=0, frames=8)
    assert ids(sources.plan(num_train=40, num_holdout=3, seed=0, frames=8), "train") == ids(
        full, "train")
    assert ids(sources.plan(num_train=40, num_holdout=3, seed=0, frames=8), "holdout") == ids(
        full, "holdout")[:3]
    alone = sources.plan(num_train=40, num_holdout=12, seed=0, frames=8, train_from=41)
    assert alone == [p for p in full if p["split"] == "holdout"]
    no_train = sources.plan(num_train=0, num_holdout=12, seed=0, frames=8)
    assert ids(no_train, "holdout") != ids(full, "holdout")


def test_keep_rungs_keeps_the_named_rungs_and_their_presets():
    plan = sources.plan(num_train=4, num_holdout=0, seed=8, train_mixed_presets=True)
    src = dict(plan[0])
    crfs, presets = src["ladder_crfs"].split(";"), src["ladder_presets"].split(";")
    mtd.keep_rungs(src, "1,3,5")
    assert src["ladder_crfs"].split(";") == crfs[1::2]
    assert src["ladder_presets"].split(";") == presets[1::2]
    with pytest.raises(ValueError, match="has 6 rungs"):
        mtd.keep_rungs(dict(plan[1]), "0,6")


def test_plan_with_id_prefix_gives_the_same_sources_under_unique_names():
    """Builds of two seeds number their sources from 1 alike, so a few names collide
    (here t0021_photo_objects_720x720); `id_prefix` renames, the sources stay the same."""
    kw = {"num_train": 30, "num_holdout": 6, "seed": 4, "frames": 8,
          "train_rung_steps": (2, 3, 4), "train_mixed_presets": True}
    plain = sources.plan(**kw)
    prefixed = sources.plan(**kw, id_prefix="n24_")
    assert sources.plan(**kw, id_prefix="") == plain
    assert len(prefixed) == len(plain) == 36
    for old, new in zip(plain, prefixed):
        assert new["source_id"] == "n24_" + old["source_id"]
        assert new["video_id"] == new["source_id"]
        assert {k: v for k, v in new.items() if k not in ("source_id", "video_id")} == {
            k: v for k, v in old.items() if k not in ("source_id", "video_id")}
    earlier = {p["source_id"] for p in sources.plan(num_train=30, num_holdout=0, seed=0)}
    assert earlier & {p["source_id"] for p in plain} == {"t0021_photo_objects_720x720"}
    assert not earlier & {p["source_id"] for p in prefixed}
    extension = sources.plan(num_train=30, num_holdout=0, seed=4, train_from=21,
                             families=("graphics",), id_prefix="n24_")
    assert [p["source_id"][:9] for p in extension] == [f"n24_t{n:04d}" for n in range(21, 31)]


def test_source_names_without_a_prefix_are_unchanged():
    spec = {"split": "holdout", "family": "text", "motion": "pan", "width": 640,
            "height": 360}
    assert sources.source_name(spec, 1) == "h0001_text_pan_640x360"
    assert sources.source_name(spec, 12, "n24_") == "n24_h0012_text_pan_640x360"
    plan = sources.plan(num_train=40, num_holdout=10, seed=0, frames=8)
    numbers = {"train": 0, "holdout": 0}
    for p in plan:
        numbers[p["split"]] += 1
        n = numbers[p["split"]]
        assert p["source_id"] == (f"{p['split'][0]}{n:04d}_{p['family']}_{p['motion']}"
                                  f"_{p['width']}x{p['height']}")
        assert sources.source_number(p["source_id"]) == n
        assert sources.source_number("n24_" + p["source_id"], "n24_") == n
    assert sources.source_number("t12345_photo_pan_640x360") == 12345


@pytest.mark.parametrize("bad", ("N24_", "n24-", "n 24", "n24/", "ü_", "n24_\n"))
def test_a_bad_id_prefix_is_refused_clearly(bad, tmp_path, capsys):
    msg = "lowercase letters, digits and underscores"
    with pytest.raises(ValueError, match=msg):
        sources.plan(num_train=1, num_holdout=0, id_prefix=bad)
    with pytest.raises(Exception, match=msg):
        sources.parse_id_prefix(bad)
    for parse in (lambda a: sources.parse_args([f"--output_dir={tmp_path}", *a]),
                  lambda a: mtd.main([f"--output_dir={tmp_path / 'out'}", *a])):
        with pytest.raises(SystemExit):
            parse(["--id_prefix", bad])
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert sources.parse_id_prefix("n24_") == "n24_" and sources.parse_id_prefix("") == ""


def test_select_sources_reads_the_number_after_the_id_prefix():
    plan = sources.plan(num_train=12, num_holdout=6, seed=0, frames=8, id_prefix="n24_")
    rows = [{k: str(v) for k, v in p.items()} for p in plan]  # as read from catalog.csv
    chosen = mtd.select_sources(rows, num_train=5, num_holdout=2, id_prefix="n24_")
    train = [p["source_id"] for p in plan if p["split"] == "train"]
    holdout = [p["source_id"] for p in plan if p["split"] == "holdout"]
    assert {r["source_id"] for r in chosen} == set(train[:5] + holdout[:2])
    assert [r["source_id"] for r in chosen] == [
        p["source_id"] for p in plan if p["source_id"] in set(train[:5] + holdout[:2])]
    unprefixed = sources.plan(num_train=12, num_holdout=6, seed=0, frames=8)
    assert ["n24_" + r["source_id"] for r in mtd.select_sources(unprefixed, 5, 2)] == [
        r["source_id"] for r in chosen]
    with pytest.raises(ValueError, match="does not start with id prefix 'n60_'"):
        mtd.select_sources(rows, 5, 2, id_prefix="n60_")


def test_make_tiny_dataset_passes_the_id_prefix_and_resumes_a_larger_build(
        tmp_path, monkeypatch, capsys):
    """The sources stage gets --id_prefix; a smaller build over an existing prefixed
    catalog keeps the first sources of each split (ffmpeg stubbed: masters stage only)."""
    calls = []

    def fake_run(argv):
        calls.append(argv)
        opts, _ = sources.parse_args(argv)
        plan = sources.plan(opts.num_train, opts.num_holdout, opts.seed, opts.frames,
                            id_prefix=opts.id_prefix)
        os.makedirs(opts.output_dir)
        with open(os.path.join(opts.output_dir, "catalog.csv"), "w") as f:
            f.write("\n".join([",".join(sources.CSV_COLUMNS),
                               *map(sources.to_csv_line, plan)]) + "\n")

    monkeypatch.setattr(mtd.sources_lib, "run", fake_run)
    out = tmp_path / "n24_data"
    mtd.main([f"--output_dir={out}", "--seed=8", "--num_train=6", "--num_holdout=3",
              "--id_prefix=n24_", "--until=masters"])
    assert len(calls) == 1 and "--id_prefix=n24_" in calls[0]
    with open(out / "sources" / "catalog.csv", newline="") as f:
        ids = [r["source_id"] for r in csv.DictReader(f)]
    assert len(ids) == 9 and all(i.startswith("n24_") for i in ids)
    assert "9 masters" in capsys.readouterr().out
    mtd.main([f"--output_dir={out}", "--seed=8", "--num_train=4", "--num_holdout=1",
              "--id_prefix=n24_", "--until=masters"])
    assert len(calls) == 1  # the catalog was kept
    assert "5 masters" in capsys.readouterr().out
