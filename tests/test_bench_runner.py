"""`make bench` (bench/run_all.py): the Makefile names a module that exists, and the
benchmarks that need the training data build are skipped, not failed, without it."""
import pathlib
import re

import pytest

from bench import bench_bdrate, run_all

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_make_bench_runs_a_module_that_exists_and_skips_missing_inputs(tmp_path, capsys,
                                                                       monkeypatch):
    (module,) = re.findall(r"^bench:.*\n\t\$\(PY\) -m ([\w.]+)",
                           (ROOT / "Makefile").read_text(), re.M)
    assert module == "bench.run_all"
    for name, _ in run_all.BENCHMARKS:  # every listed benchmark is a module here
        assert (ROOT / "bench" / f"{name}.py").exists(), name
    monkeypatch.chdir(tmp_path)  # no data build here: the data benchmarks are skipped
    assert run_all.main(["--only", "bench_bdrate,bench_cross_resolution"]) == 0
    out = capsys.readouterr().out
    assert "| bench_bdrate | skipped: needs out/tiny_data/sources_holdout.csv" in out
    assert "| bench_cross_resolution | skipped: needs" in out
    assert "===" not in out  # nothing was started


def test_bdrate_bench_splits_a_multi_size_ladder_into_two_ladders():
    rows = [{"video_id": video_id, "source_id": "s", "crf": crf, "display_height": shown}
            for video_id, crf, shown in (("s__crf19", "19", ""),
                                         ("s__h0360_crf19", "19", "720"),
                                         ("s__h0240_crf19", "19", "720"),
                                         ("s__crf24", "24", None))]
    own, small = bench_bdrate.split_by_height(rows, 360)
    assert [r["video_id"] for r in own] == ["s__crf19", "s__crf24"]
    assert [r["video_id"] for r in small] == ["s__h0360_crf19"]


def test_bdrate_bench_display_height_needs_a_second_size(capsys):
    with pytest.raises(SystemExit) as e:
        bench_bdrate.main(["--display_height"])
    assert e.value.code == 2
    assert "--display_height needs --height_b" in capsys.readouterr().err
