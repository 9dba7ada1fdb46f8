"""The fixed input layers of the from-scratch low-level path (cpllm_tiny)."""
import numpy as np
import pytest


def _texture(seed, size=32):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, (1, size, size, 1)).repeat(3, axis=-1).astype("float32")


def test_normalized_detail_is_contrast_invariant(tiny_model):
    layer = tiny_model.backbone.normalized_detail_layer
    t = _texture(0)
    low = np.asarray(layer(0.5 + 0.05 * t))
    high = np.asarray(layer(0.5 + 0.2 * t))
    assert low.shape == (1, 32, 32, 3)
    inner = (slice(None), slice(3, -3), slice(3, -3))
    corr = np.corrcoef(low[inner][..., 0].ravel(), high[inner][..., 0].ravel())[0, 1]
    assert corr > 0.99  # normalised detail: the same at 4x the contrast
    np.testing.assert_allclose(high[inner][..., 1], 4 * low[inner][..., 1], rtol=1e-4,
                               atol=1e-5)  # absolute detail scales with contrast
    assert high[inner][..., 2].mean() > low[inner][..., 2].mean() + 0.2  # log contrast


def test_flat_block_reads_zero(tiny_model):
    flat = np.full((1, 32, 32, 3), 0.3, "float32")
    out = np.asarray(tiny_model.backbone.normalized_detail_layer(flat))
    np.testing.assert_allclose(out, 0.0, atol=1e-5)


def test_contrast_norm_needs_a_detail_gain(tiny_model):
    from cpllm_model.backbone import CPLLMBackbone

    config = tiny_model.backbone.get_config()
    config.update(low_level_detail_gain=0.0, low_level_contrast_norm=True)
    with pytest.raises(ValueError, match="low_level_detail_gain"):
        CPLLMBackbone.from_config(config)


def test_contrast_norm_survives_the_config(tiny_model):
    from cpllm_model.backbone import CPLLMBackbone

    config = tiny_model.backbone.get_config()
    config.update(low_level_contrast_norm=True)
    backbone = CPLLMBackbone.from_config(config)
    assert backbone.get_config()["low_level_contrast_norm"] is True
    assert backbone.low_level_encoder is not tiny_model.backbone.low_level_encoder


def _patches(seed, k=2, m=3):
    rng = np.random.default_rng(seed)
    patches = rng.integers(0, 256, (1, k, m, 32, 32, 3), dtype=np.uint8)
    mask = np.ones((1, k, m), "float32")
    mask[0, 1, 2] = 0.0
    return patches, mask


def test_dihedral_views_are_numpy_rotations_and_mirrors():
    from cpllm_model.backbone import DIHEDRAL_VIEWS, dihedral_views

    patches, mask = _patches(0)
    views, vmask = dihedral_views(patches, mask, 8)
    views, vmask = np.asarray(views), np.asarray(vmask)
    assert views.shape == (1, 2, 24, 32, 32, 3) and vmask.shape == (1, 2, 24)
    for v, (k, mirror) in enumerate(DIHEDRAL_VIEWS):
        want = np.rot90(patches, k, axes=(3, 4))
        want = np.flip(want, axis=4) if mirror else want
        np.testing.assert_array_equal(views[:, :, 3 * v:3 * v + 3], want)
        np.testing.assert_array_equal(vmask[:, :, 3 * v:3 * v + 3], mask)
    assert len(set(map(bytes, (views[0, 0, 3 * v] for v in range(8))))) == 8


def _low_features(backbone, patches, mask, views):
    saved = backbone.low_level_views
    backbone.low_level_views = views
    try:
        return np.asarray(backbone.encode_low(patches, mask))
    finally:
        backbone.low_level_views = saved


def test_eight_views_make_the_low_level_path_blind_to_orientation(tiny_model):
    """V = 8: rotating or mirroring every patch permutes the views, features unchanged;
    V = 1 (what training sees): they change. V = 4 is blind to rotations only."""
    bb = tiny_model.backbone
    patches, mask = _patches(1)
    turned = np.ascontiguousarray(np.rot90(patches, 1, axes=(3, 4)))
    mirrored = np.ascontiguousarray(np.flip(patches, axis=4))
    base8 = _low_features(bb, patches, mask, 8)
    np.testing.assert_allclose(_low_features(bb, turned, mask, 8), base8, atol=2e-5)
    np.testing.assert_allclose(_low_features(bb, mirrored, mask, 8), base8, atol=2e-5)
    base4 = _low_features(bb, patches, mask, 4)
    np.testing.assert_allclose(_low_features(bb, turned, mask, 4), base4, atol=2e-5)
    assert np.abs(_low_features(bb, mirrored, mask, 4) - base4).max() > 1e-3
    base1 = _low_features(bb, patches, mask, 1)
    assert np.abs(_low_features(bb, turned, mask, 1) - base1).max() > 1e-3


def test_low_level_views_config(tiny_model):
    from cpllm_model.backbone import CPLLMBackbone

    config = tiny_model.backbone.get_config()
    for bad in (0, 9):
        with pytest.raises(ValueError, match="low_level_views must be in 1..8"):
            CPLLMBackbone.from_config({**config, "low_level_views": bad})
    assert CPLLMBackbone.from_config({**config, "low_level_views": 4}).get_config()[
        "low_level_views"] == 4
