"""Shared fixtures: one bundled tiny CP-LLM per session, and random uint8 video inputs."""
import numpy as np
import pytest


# Patches per frame of the random test videos. The model takes any M (its low-level
# features and patch scores are means over the real patches), and the score path's cost
# grows with M x views x score paths: 16 keeps these mechanics tests fast; the bundled
# preset's own M (256) is exercised on real video (test_model_presets, test_bundled_model).
TEST_PATCHES = 16


def random_videos(batch, model, seed):
    """Random vision inputs for `batch` videos (uint8 pixels, some patches masked)."""
    p = model.preprocessor
    rng = np.random.default_rng(seed)
    k, s, m, ps = p.num_keyframes, p.image_size, min(p.max_patches, TEST_PATCHES), p.patch_size
    mask = np.ones((batch, k, m), "float32")
    mask[:, :, m - 1] = rng.integers(0, 2, (batch, k))
    return {
        "high_frames": rng.integers(0, 256, (batch, k * p.high_level_frames, s, s, 3),
                                    dtype=np.uint8),
        "low_patches": rng.integers(0, 256, (batch, k, m, ps, ps, 3), dtype=np.uint8),
        "patch_mask": mask,
    }


@pytest.fixture(scope="session")
def tiny_model():
    from cpllm_model import CPLLM

    return CPLLM.from_preset("cpllm_tiny")


@pytest.fixture(scope="session")
def make_videos(tiny_model):
    """make_videos(batch, seed) -> random vision inputs for the tiny model."""
    return lambda batch, seed: random_videos(batch, tiny_model, seed)


@pytest.fixture(scope="session")
def videos_for():
    """videos_for(batch, model, seed) -> random vision inputs for `model`."""
    return random_videos


@pytest.fixture(scope="session")
def own_key_frame_path(tiny_model):
    """The bundled model's own score path (its score members left out) reading the key
    frames alone (high_level_frames 1, no weight changed): the trained preset that the
    tests of layers added to a trained preset start from."""
    import copy

    from cpllm_model import CPLLM

    own = CPLLM.from_preset("cpllm_tiny", own_run_only=True)
    if own.preprocessor.high_level_frames == 1:
        return own
    bb = own.backbone
    assert not bb.motion_input  # its own path reads key frames only
    view = type(bb).from_config({**bb.get_config(), "high_level_frames": 1})
    view.set_weights(bb.get_weights())
    pre = copy.copy(own.preprocessor)
    pre.high_level_frames = 1
    return CPLLM(backbone=view, preprocessor=pre)


@pytest.fixture(scope="session")
def videos8(make_videos):
    return make_videos(8, seed=1)


@pytest.fixture(scope="session")
def jit_run():
    """jit_run(model, fn, inputs): runs fn(inputs) (reading the model's weights) under
    one XLA compile instead of op-by-op eager dispatch; compiled functions are cached."""
    from cpllm_model.cpllm import _stateless_jit, _unique_variables

    cache = {}

    def run(model, fn, inputs):
        key = (id(model), fn.__code__)
        if key not in cache:
            cache[key] = _stateless_jit(fn, _unique_variables([model]))
        return cache[key](inputs)

    return run
