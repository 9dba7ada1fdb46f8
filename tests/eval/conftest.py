"""Session fixtures of the evaluation tests: one real scoring run (score.run on
DirectRunner with the bundled tiny model) over a tiny ladder plus one missing file."""
import csv

import pytest

SOURCES = ("astronaut", "testsrc2")
CRFS = (18, 36, 51)


@pytest.fixture(scope="session")
def pipeline_output(tmp_path_factory):
    """Output dir of `beam_pipelines.score` for 2 sources x 3 CRFs (96x64, 1 s, 8 fps)
    and one catalog row whose file does not exist (a failure at stage "read")."""
    from beam_pipelines import score
    from beam_pipelines.media import samples

    root = tmp_path_factory.mktemp("eval_run")
    rows = []
    for source in SOURCES:
        master = samples.make_clip(str(root / f"{source}.mkv"), source, seconds=1.0,
                                   size=(96, 64), fps=8)
        rows += samples.make_ladder(master, str(root / source), list(CRFS),
                                    source_id=source, preset="ultrafast")
    rows.append({"video_id": "gone", "uri": str(root / "gone.mp4")})
    catalog = root / "catalog.csv"
    with open(catalog, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    out = str(root / "out")
    score.run(["--catalog", str(catalog), "--output_dir", out])
    return out
