"""beam_pipelines.vmaf: real libvmaf / blockdetect / blurdetect runs on tiny clips."""
import math

import pytest

from beam_pipelines import vmaf
from beam_pipelines.media import errors, ffmpeg_bin, transcode


@pytest.fixture(scope="module")
def rungs(masters, tmp_path_factory):
    d = tmp_path_factory.mktemp("vmaf")
    out = {}
    for crf in (24, 44):
        out[crf] = str(d / f"crf{crf}.mp4")
        transcode.transcode(masters["testsrc2"], out[crf], crf, preset="ultrafast")
    return out


def test_vmaf_orders_crf_and_identity_is_near_100(masters, rungs):
    ref = masters["testsrc2"]
    same = vmaf.vmaf(ref, ref)
    hi, lo = vmaf.vmaf(rungs[24], ref), vmaf.vmaf(rungs[44], ref)
    assert same > 97.0
    assert same > hi > lo + 10.0


def test_blockdetect_sees_heavy_compression(masters, rungs):
    clean = vmaf.no_reference(masters["testsrc2"])
    heavy = vmaf.no_reference(rungs[44])
    assert heavy["blockiness"] > clean["blockiness"] + 5.0
    assert vmaf.blockiness(rungs[44]) == pytest.approx(heavy["blockiness"])
    assert vmaf.blur(rungs[44]) == pytest.approx(heavy["blur"])


def test_flat_video_gives_non_finite_not_an_error(tmp_path):
    flat = str(tmp_path / "flat.mp4")
    ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "color=c=gray:size=64x48:rate=12:duration=0.5", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", flat], timeout_s=30, check=True)
    nr = vmaf.no_reference(flat)
    assert not (math.isfinite(nr["blockiness"]) and math.isfinite(nr["blur"]))


def test_errors_are_typed(tmp_path, masters):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 50)
    with pytest.raises(errors.DecodeError):
        vmaf.vmaf(str(bad), masters["testsrc2"])
    with pytest.raises(errors.MediaError) as e:
        vmaf.blur(str(tmp_path / "missing.mp4"))
    assert e.value.stage == "read"
