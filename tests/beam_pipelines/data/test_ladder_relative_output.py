"""`ladder --output_dir` given as a relative path (issue 14, item 4): the rendition uris
in DIR/catalog.csv must resolve, through the catalog reader, to the files written (they
used to be written relative to the working directory and then resolved again against
the catalog's directory: out/out/videos/...)."""
import csv
import os

from beam_pipelines import catalog, ladder


def test_relative_output_dir_gives_uris_that_resolve(masters, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("sources.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "uri"])
        w.writerow(["testsrc2__static", masters["testsrc2"]])
    ladder.run(["--catalog=sources.csv", "--output_dir=out", "--crfs=30",
                "--preset=ultrafast"])
    path = os.path.join("out", "catalog.csv")
    entries = [catalog.normalize_row(raw, path)
               for error, raw in catalog.iter_raw_rows(path) if error is None]
    renditions = [e for e in entries if e["crf"] is not None]
    assert [e["crf"] for e in renditions] == [30]
    for e in entries:
        assert os.path.isfile(e["uri"]), e["uri"]
    assert os.path.samefile(renditions[0]["uri"],
                            tmp_path / "out" / "videos" / "testsrc2__static" / "crf30.mp4")
    assert not os.path.exists(tmp_path / "out" / "out")
