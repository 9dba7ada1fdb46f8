"""`make bench` (bench/run_all.py): the Makefile names a module that exists, and the
benchmarks that need the training data build are skipped, not failed, without it."""
import pathlib
import re

from bench import run_all

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
