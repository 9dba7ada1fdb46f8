"""Training switches: exactly which weights train in each mode; gradients; LoRA saving."""
import numpy as np
import pytest

BASE = {
    "high_level_projection/kernel", "high_level_projection/bias",
    "low_level_projection/kernel", "low_level_projection/bias",
    "low_level_norm/gamma", "low_level_norm/beta",
    "score_head/hidden/kernel", "score_head/hidden/bias",
    "score_head/output/kernel", "score_head/output/bias",
}


@pytest.fixture(scope="module")
def fresh_model():
    from cpllm_model.presets import build_tiny

    return build_tiny(seed=0)


@pytest.fixture(scope="module")
def make_videos(fresh_model, videos_for):
    """Random vision inputs for `fresh_model`."""
    return lambda batch, seed: videos_for(batch, fresh_model, seed)


def _paths(weights):
    return {w.path for w in weights}


def _ids(weights):
    return {id(w) for w in weights}


def _spatial(model):
    prism = model.backbone.low_level_encoder
    return prism.spatial_embedding.weights + prism.spatial_encoder.weights


def test_trainable_weights_per_mode(fresh_model):
    m, bb = fresh_model, fresh_model.backbone
    siglip, prism = bb.high_level_encoder, bb.low_level_encoder
    decoder = [w for layer in bb.decoder_layers() for w in layer.weights]
    base = [w for w in m.weights if w.path in BASE and id(w) not in _ids(siglip.weights)]
    assert _paths(base) == BASE

    m.configure_training(high_level="all", decoder="full")
    constants = [w for w in siglip.embedding.weights if w.path.endswith("position_ids")]
    unused = siglip.head.weights + constants + [
        w for w in prism.weights if id(w) not in _ids(_spatial(m))]
    expected = _ids(m.weights) - _ids(unused)
    assert _ids(m.trainable_weights) == expected

    m.configure_training(high_level="head", decoder="frozen")
    siglip_head = siglip.encoder_layers[-1].weights + siglip.post_layer_norm.weights
    assert _ids(m.trainable_weights) == _ids(base + _spatial(m) + siglip_head)

    m.configure_training(high_level="frozen", decoder="lora", lora_rank=4)
    lora = {f"decoder_block_{i}/attention/{name}/lora_kernel_{ab}"
            for i in range(bb.num_layers) for name in ("query", "key", "value")
            for ab in ("a", "b")}
    trainable = m.trainable_weights
    assert _paths(w for w in trainable if w.path.startswith("decoder_block_")) == lora
    assert _ids(w for w in trainable if not w.path.startswith("decoder_block_")) == _ids(
        base + _spatial(m))
    assert not _ids(trainable) & _ids(siglip.weights + decoder)
    # LoRA touched only the decoder: no SigLIP / VideoPrism query/key/value got LoRA.
    assert not any("lora" in w.path for w in siglip.weights + prism.weights)
    assert len(trainable) == len(base) + len(_spatial(m)) + len(lora)
    with pytest.raises(ValueError):
        m.configure_training(decoder="lora", lora_rank=8)


def test_gradients_reach_every_trainable_weight(fresh_model, make_videos):
    import jax

    m = fresh_model
    m.configure_training(high_level="frozen", decoder="lora", lora_rank=4)
    for block in m.backbone.transformer_layers:  # LoRA B starts at 0: make A's grad live
        for dense in (block.attention.query_dense, block.attention.key_dense,
                      block.attention.value_dense):
            dense.lora_kernel_b.assign(np.full(dense.lora_kernel_b.shape, 0.01, "float32"))
    x = dict(make_videos(1, seed=41))
    x.update({k: v[None] for k, v in m.preprocessor.build_training_text(
        "Rate it.", "The video shows a cat.", sequence_length=24).items()})
    trainable = [v.value for v in m.trainable_variables]
    frozen = [v.value for v in m.non_trainable_variables]

    def loss(tv):
        out, _ = m.stateless_call(tv, frozen, x, training=True)
        return out["score"].sum() + (out["logits"][..., :8] ** 2).mean()

    grads = jax.jit(jax.grad(loss))(trainable)
    dead = [v.path for v, g in zip(m.trainable_variables, grads)
            if not np.any(np.asarray(g))]
    assert not dead, dead


def test_lora_weights_are_merged_on_save(fresh_model, make_videos, jit_run, tmp_path):
    from cpllm_model import CPLLM

    m = fresh_model
    m.configure_training(high_level="frozen", decoder="lora", lora_rank=4)
    rng = np.random.default_rng(0)
    for block in m.backbone.transformer_layers:
        dense = block.attention.value_dense
        dense.lora_kernel_b.assign(rng.normal(size=dense.lora_kernel_b.shape) * 0.1)
    x = dict(make_videos(1, seed=42))
    x.update({k: v[None] for k, v in m.preprocessor.build_training_text(
        "Rate it.", "A cat.", sequence_length=16).items()})
    before = np.asarray(jit_run(m, lambda inputs: m(inputs)["logits"], x))
    m.save_to_preset(str(tmp_path / "lora"))
    loaded = CPLLM.from_preset(str(tmp_path / "lora"))
    after = np.asarray(jit_run(loaded, lambda inputs: loaded(inputs)["logits"], x))
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4)
