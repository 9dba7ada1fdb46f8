"""Session fixtures of the data tests: tiny lossless masters and one real ladder run."""
import csv
import os

import pytest

from beam_pipelines.media import ffmpeg_bin

CRFS = (20, 32, 44)
SIZE = "160x120"


def _master(path, lavfi):
    ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", lavfi,
                    "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-pix_fmt",
                    "yuv420p", path], timeout_s=60, check=True)
    return path


@pytest.fixture(scope="session")
def masters(tmp_path_factory):
    """Two lossless 1 s 160x120 masters: {"testsrc2": path, "mandelbrot": path}."""
    d = tmp_path_factory.mktemp("masters")
    return {
        "testsrc2": _master(str(d / "testsrc2.mp4"), f"testsrc2=size={SIZE}:rate=24:duration=1"),
        "mandelbrot": _master(str(d / "mandelbrot.mp4"),
                              f"mandelbrot=size={SIZE}:rate=24,trim=duration=1"),
    }


@pytest.fixture(scope="session")
def ladder_run(masters, tmp_path_factory):
    """Runs `beam_pipelines.ladder` once: testsrc2 has a source MOS (60), mandelbrot none.

    Returns (output_dir, rows of DIR/catalog.csv, CRFs).
    """
    from beam_pipelines import ladder

    d = tmp_path_factory.mktemp("ladder")
    src = d / "sources.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "uri", "mos", "description"])
        w.writerow(["testsrc2__static", masters["testsrc2"], "60",
                    "A test card, with bars. Graphics. Sharp and clean."])
        w.writerow(["mandelbrot__zoom", masters["mandelbrot"], "", ""])
        w.writerow(["missing__static", str(d / "no_such_file.mp4"), "", ""])
    out = d / "out"
    ladder.run([f"--catalog={src}", f"--output_dir={out}",
                "--crfs=" + ",".join(map(str, CRFS)), "--preset=ultrafast"])
    with open(os.path.join(out, "catalog.csv")) as f:
        rows = list(csv.DictReader(f))
    return str(out), rows, CRFS
