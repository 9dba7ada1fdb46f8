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
