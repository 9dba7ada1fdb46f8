"""frame_stats.measure on synthetic frames: each statistic orders flat < noise etc."""
import numpy as np
import pytest

from beam_pipelines import frame_stats

RNG = np.random.default_rng(0)
K, H, W = 4, 96, 128
GREY = np.full((K, H, W, 3), 128, np.uint8)
NOISE = RNG.integers(0, 256, (K, H, W, 3), dtype=np.uint8)
# A bar pattern that moves 8 px per key frame; hard edges between flat bars.
_BARS = np.where((np.arange(W + 8 * K) // 16) % 2 == 0, 230, 20).astype(np.uint8)
MOVING = np.stack([np.broadcast_to(_BARS[8 * k:8 * k + W][None, :, None], (H, W, 3))
                   for k in range(K)])


def test_fields_and_ranges():
    for frames in (GREY, NOISE, MOVING):
        st = frame_stats.measure(frames)
        assert tuple(st) == frame_stats.FIELDS
        assert all(isinstance(v, float) and np.isfinite(v) for v in st.values())
        assert 0 <= st["brightness"] <= 255 and 0 <= st["motion"] <= 255
        assert 0 <= st["flat_fraction"] <= 1 and 0 <= st["edge_density"] <= 1
        assert st["colorfulness"] >= 0 and st["detail"] >= 0 and st["contrast"] >= 0


def test_flat_grey():
    st = frame_stats.measure(GREY)
    assert st["brightness"] == pytest.approx(128.0)
    assert st["colorfulness"] == 0.0 and st["detail"] == 0.0 and st["motion"] == 0.0
    assert st["flat_fraction"] == 1.0 and st["edge_density"] == 0.0 and st["contrast"] == 0.0


def test_order_of_each_stat():
    g, n, m = (frame_stats.measure(f) for f in (GREY, NOISE, MOVING))
    assert g["detail"] < m["detail"] < n["detail"]
    assert g["motion"] < n["motion"] and g["motion"] < m["motion"]
    assert g["colorfulness"] < n["colorfulness"]
    assert m["colorfulness"] == 0.0  # grey bars
    assert n["flat_fraction"] < m["flat_fraction"] <= g["flat_fraction"]
    assert g["edge_density"] < m["edge_density"]
    # graphics-like: many flat blocks and sharp edges; noise: no flat blocks
    assert m["flat_fraction"] >= 0.3 and m["edge_density"] >= 0.005
    assert n["flat_fraction"] == 0.0
    dark = frame_stats.measure(GREY // 4)
    assert dark["brightness"] < g["brightness"]
    assert frame_stats.measure(MOVING[:1])["motion"] == 0.0


def test_colour_and_brightness_formulas():
    red = np.zeros((1, 32, 32, 3), np.uint8)
    red[..., 0] = 255
    st = frame_stats.measure(red)
    assert st["brightness"] == pytest.approx(0.2126 * 255)
    # sd = 0; mu_rg = 255, mu_yb = 127.5
    assert st["colorfulness"] == pytest.approx(0.3 * np.hypot(255, 127.5))


def test_deterministic_and_strided_on_large_frames():
    big = np.tile(NOISE[:2], (1, 12, 16, 1))  # 1152 x 2048
    a, b = frame_stats.measure(big), frame_stats.measure(big.copy())
    assert a == b
    assert frame_stats.measure(NOISE[0])["motion"] == 0.0  # one [H, W, 3] frame
    with pytest.raises(ValueError):
        frame_stats.measure(np.zeros((2, 8, 8), np.uint8))
