"""CompressionStatistics on real x264 encodes: what each measurement is documented to do."""
import itertools
import subprocess

import numpy as np
import pytest

from beam_pipelines.media import ffmpeg_bin
from cpllm_model import compression_statistics as cs
from cpllm_model import frames as frames_lib


def _encode_decode(img, crf):
    """One frame through x264 (yuv420p, CRF) and back: uint8[1, H, W, 3]."""
    h, w = img.shape[:2]
    exe = ffmpeg_bin.ffmpeg_exe()
    stream = subprocess.run(
        [exe, "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
         "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf),
         "-pix_fmt", "yuv420p", "-f", "h264", "-"],
        input=img.tobytes(), capture_output=True, check=True).stdout
    raw = subprocess.run(
        [exe, "-v", "error", "-f", "h264", "-i", "-", "-f", "rawvideo", "-pix_fmt",
         "rgb24", "-"], input=stream, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(1, h, w, 3)


@pytest.fixture(scope="module")
def ladder_patches():
    """{crf: uint8[M, 32, 32, 3]} patches of one textured picture at four CRFs."""
    import skimage.data

    img = np.ascontiguousarray(skimage.data.astronaut()[:256, :256])
    out = {}
    for crf in (0, 18, 33, 48):
        patches, mask = frames_lib.low_level_patches(_encode_decode(img, crf), 3840, 32, 64)
        out[crf] = patches[0][mask[0] > 0]
    return out


@pytest.fixture(scope="module")
def measure():
    layer = cs.CompressionStatistics()
    return lambda p: np.asarray(layer.measure(np.asarray(p, np.float32) / 255.0)).mean(0)


def test_measurements_follow_the_crf(ladder_patches, measure):
    f = {crf: measure(p) for crf, p in ladder_patches.items()}
    crfs = sorted(f)
    fine_energy = [f[c][0] for c in crfs]
    equal_steps = [f[c][5] for c in crfs]
    assert all(a > b for a, b in itertools.pairwise(fine_energy)), fine_energy
    assert all(a < b for a, b in itertools.pairwise(equal_steps)), equal_steps
    # Block-boundary steps stand out at a high CRF, not in the lossless encode.
    assert f[48][10] > f[0][10] + 0.1, (f[0][10], f[48][10])
    assert abs(f[0][10]) < 0.05
    # Exposure does not depend on the CRF.
    assert abs(f[48][18] - f[0][18]) < 0.01


def test_measurements_do_not_depend_on_patch_orientation(ladder_patches, measure):
    """Rotating or mirroring a 32 x 32 patch keeps 8-pixel block boundaries on the grid
    (the low-level path's dihedral views rely on it)."""
    p = ladder_patches[48]
    base = measure(p)
    for view in (np.rot90(p, 1, axes=(1, 2)), np.rot90(p, 2, axes=(1, 2)),
                 p[:, :, ::-1]):
        # atol: a share may move by one 3x3 window when float sums change order.
        np.testing.assert_allclose(measure(np.ascontiguousarray(view)), base,
                                   rtol=1e-5, atol=1e-4)


def test_standardization_is_applied_and_checked(ladder_patches):
    layer = cs.CompressionStatistics()
    x = ladder_patches[33].astype(np.float32) / 255.0
    raw = np.asarray(layer.measure(x))
    np.testing.assert_array_equal(np.asarray(layer(x)), raw)  # starts as identity
    mean, scale = raw.mean(0), raw.std(0) + 0.5
    layer.set_standardization(mean, scale)
    np.testing.assert_allclose(np.asarray(layer(x)), (raw - mean) / scale, rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(ValueError, match="positive scales"):
        layer.set_standardization(mean, np.zeros_like(scale))


def test_moments_count_real_patches_only(ladder_patches):
    layer = cs.CompressionStatistics()
    p = np.stack([ladder_patches[18][:16], ladder_patches[48][:16]])[:, None]  # N=2, K=1
    mask = np.ones(p.shape[:3], np.float32)
    moments = cs.patch_moments(layer, p, mask)
    assert moments[0] == 32
    noisy = p.copy()
    noisy[:, :, -1] = np.random.default_rng(0).integers(0, 256, noisy[:, :, -1].shape)
    mask[:, :, -1] = 0.0
    masked = cs.patch_moments(layer, noisy, mask)
    fewer = cs.patch_moments(layer, p[:, :, :-1], np.ones((2, 1, 15), np.float32))
    assert masked[0] == fewer[0] == 30
    np.testing.assert_allclose(masked, fewer)
    mean, scale = cs.standardization_from_moments(moments)
    layer.set_standardization(mean, scale)
    z = np.asarray(layer(p.reshape(-1, 32, 32, 3).astype(np.float32) / 255.0))
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-3)
    varying = scale != 1.0
    np.testing.assert_allclose(z.std(0)[varying], 1.0, atol=1e-3)
    with pytest.raises(ValueError, match="no real patches"):
        cs.standardization_from_moments(np.zeros_like(moments))
