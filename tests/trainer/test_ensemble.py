"""trainer.ensemble: a preset whose score is the mean of several runs' score paths."""
import os

import numpy as np
import pytest


def _videos(preprocessor, batch, seed):
    p, rng = preprocessor, np.random.default_rng(seed)
    k, s, m, ps = p.num_keyframes, p.image_size, p.max_patches, p.patch_size
    mask = np.ones((batch, k, m), "float32")
    mask[:, :, m - 2:] = rng.integers(0, 2, (batch, k, 2))
    hf = p.high_level_frames
    return {"high_frames": rng.integers(0, 256, (batch, k * hf, s, s, 3), dtype=np.uint8),
            "low_patches": rng.integers(0, 256, (batch, k, m, ps, ps, 3), dtype=np.uint8),
            "patch_mask": mask}


def _other_run(tiny_model, tiny_preset, path, seed, max_patches=None):
    """The tiny model with every score-path weight perturbed: another run's score path."""
    from cpllm_model import CPLLM
    from cpllm_model.preprocessor import CPLLMPreprocessor

    bb = tiny_model.backbone
    other = type(bb).from_config(bb.get_config())
    other.set_weights(bb.get_weights())
    rng = np.random.default_rng(seed)
    for layer in (other.score_head, other.low_level_projection):
        layer.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype)
                           for w in layer.get_weights()])
    pre = CPLLMPreprocessor.from_preset(tiny_preset)
    if max_patches is not None:
        pre.max_patches = max_patches
    CPLLM(backbone=other, preprocessor=pre).save_to_preset(path)
    return path


@pytest.fixture(scope="module")
def runs(tiny_model, tiny_preset, tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    members = [_other_run(tiny_model, tiny_preset, str(root / f"run{i}"), seed=i) for i in (1, 2)]
    return tiny_preset, members, root


@pytest.fixture(scope="module")
def ensemble_preset(runs):
    from trainer import ensemble

    primary, members, root = runs
    path = str(root / "ensemble")
    ensemble.build(primary, members).save_to_preset(path)
    return path


def test_the_score_is_the_mean_of_the_runs_frame_scores(runs, ensemble_preset):
    from cpllm_model import CPLLM

    primary, members, _ = runs
    model = CPLLM.from_preset(ensemble_preset)
    assert len(model.backbone.score_members) == 2
    videos = _videos(model.preprocessor, 3, seed=4)
    each = [CPLLM.from_preset(p).score(videos)["frame_scores"] for p in [primary, *members]]
    assert np.ptp([e.mean() for e in each]) > 0.01  # the three runs score differently
    got = model.score(videos)
    np.testing.assert_allclose(got["frame_scores"], np.mean(each, axis=0), atol=1e-4)
    np.testing.assert_allclose(got["score"], got["frame_scores"].mean(-1), rtol=1e-6)
    assert np.all((got["score"] >= 0) & (got["score"] <= 100))
    # Bit for bit again, and the same loaded score-only (the members have no decoder).
    np.testing.assert_array_equal(model.score(videos)["score"], got["score"])
    score_only = CPLLM.from_preset(ensemble_preset, score_only=True)
    np.testing.assert_array_equal(score_only.score(videos)["score"], got["score"])


def test_the_primary_network_is_kept_whole(runs, ensemble_preset):
    from cpllm_model import CPLLM
    from trainer import ensemble

    before, after = CPLLM.from_preset(runs[0]), CPLLM.from_preset(ensemble_preset)
    pairs = list(zip(ensemble.own_layers(before.backbone),
                     ensemble.own_layers(after.backbone), strict=True))
    assert after.backbone.decoder_layers() and len(pairs) > 6
    for layer, twin in pairs:
        for a, b in zip(layer.get_weights(), twin.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    videos = _videos(before.preprocessor, 1, seed=5)
    vision = lambda m: m._encode(videos)[0]  # the decoder's prefix: the primary's tokens
    np.testing.assert_allclose(np.asarray(vision(after)), np.asarray(vision(before)),
                               atol=1e-5)


def test_members_follow_the_views_and_never_train(ensemble_preset):
    from cpllm_model import CPLLM, training_modes

    model = CPLLM.from_preset(ensemble_preset)
    bb = model.backbone
    bb.set_low_level_views(2)
    assert [m.backbone.low_level_views for m in bb.score_members] == [2, 2]
    training_modes.configure(bb, decoder="full")
    member_vars = {id(v) for m in bb.score_members for v in m.weights}
    assert member_vars and not member_vars & {id(v) for v in bb.trainable_weights}
    assert type(bb).from_config(bb.get_config()).score_members[1].backbone.low_level_views == 2


def test_bad_members_are_refused(runs, tiny_model, tmp_path):
    from trainer import ensemble

    primary, members, _ = runs
    with pytest.raises(ValueError, match="at least one --member"):
        ensemble.build(primary, [])
    other = _other_run(tiny_model, primary, str(tmp_path / "m"), seed=3,
                       max_patches=tiny_model.preprocessor.max_patches + 1)
    with pytest.raises(ValueError, match="must read the same inputs"):
        ensemble.build(primary, [other])


def test_own_run_only_loads_the_primary_alone(runs, ensemble_preset):
    from cpllm_model import CPLLM

    own = CPLLM.from_preset(ensemble_preset, own_run_only=True)
    assert own.backbone.score_members == []
    videos = _videos(own.preprocessor, 2, seed=6)
    np.testing.assert_array_equal(own.score(videos)["score"],
                                  CPLLM.from_preset(runs[0]).score(videos)["score"])


def test_a_from_scratch_run_does_not_carry_score_members(tiny_config, ensemble_preset):
    from trainer import config_lib, train

    config = config_lib.apply_overrides(tiny_config, [f"model.preset={ensemble_preset}"])
    assert config.model.reinitialize
    assert train.build_model(config).backbone.score_members == []
    kept = config_lib.apply_overrides(config, ["model.reinitialize=False",
                                               "model.backbone_overrides={}"])
    model = train.build_model(kept)  # e.g. stage 2 on an ensemble: members kept, frozen
    assert len(model.backbone.score_members) == 2
    assert not {id(v) for m in model.backbone.score_members for v in m.weights} & {
        id(v) for v in model.backbone.trainable_weights}


def test_unpack_gives_back_each_run_and_packs_again(runs, ensemble_preset, tmp_path):
    from cpllm_model import CPLLM
    from trainer import ensemble

    primary, members, _ = runs
    paths = ensemble.unpack(ensemble_preset, str(tmp_path / "paths"))
    assert [os.path.basename(p) for p in paths] == ["path0", "path1", "path2"]
    videos = _videos(CPLLM.from_preset(primary).preprocessor, 2, seed=7)
    for got, want in zip(paths, [primary, *members], strict=True):
        np.testing.assert_array_equal(CPLLM.from_preset(got).score(videos)["score"],
                                      CPLLM.from_preset(want).score(videos)["score"])
    assert CPLLM.from_preset(paths[0]).backbone.decoder_layers()
    again = ensemble.build(paths[0], paths[1:])
    np.testing.assert_allclose(again.score(videos)["score"],
                               CPLLM.from_preset(ensemble_preset).score(videos)["score"],
                               atol=1e-5)
    with pytest.raises(ValueError, match="single run already"):
        ensemble.unpack(primary, str(tmp_path / "none"))


@pytest.fixture(scope="module")
def members_only_preset(runs):
    from trainer import ensemble

    primary, members, root = runs
    path = str(root / "members_only")
    ensemble.build(primary, members, score_own_path=False).save_to_preset(path)
    return path


def test_without_its_own_path_the_score_is_the_members_mean(runs, members_only_preset):
    from cpllm_model import CPLLM
    from trainer import ensemble

    primary, members, _ = runs
    model = CPLLM.from_preset(members_only_preset)
    assert not model.backbone.score_own_path and len(model.backbone.score_members) == 2
    videos = _videos(model.preprocessor, 3, seed=8)
    each = [CPLLM.from_preset(p).score(videos)["frame_scores"] for p in members]
    mine = CPLLM.from_preset(primary).score(videos)["frame_scores"]
    want = np.mean(each, axis=0)
    assert np.abs(np.mean([mine, *each], axis=0) - want).max() > 0.01
    got = model.score(videos)
    np.testing.assert_allclose(got["frame_scores"], want, atol=1e-4)
    np.testing.assert_array_equal(
        CPLLM.from_preset(members_only_preset, score_only=True).score(videos)["score"],
        got["score"])
    # The primary's network, decoder and vision tokens, is kept whole.
    before = CPLLM.from_preset(primary)
    for layer, twin in zip(ensemble.own_layers(before.backbone),
                           ensemble.own_layers(model.backbone), strict=True):
        for a, b in zip(layer.get_weights(), twin.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    one = {k: v[:1] for k, v in videos.items()}
    np.testing.assert_allclose(np.asarray(model._encode(one)[0]),
                               np.asarray(before._encode(one)[0]), atol=1e-5)
    # Scoring reads the members' weights only.
    own = {id(v) for layer in model.backbone.scoring_layers(include_members=False)
           for v in layer.weights}
    read = {id(v) for layer in model.backbone.scoring_layers() for v in layer.weights}
    assert read and not own & read


def test_without_its_own_path_unpack_gives_the_primary_counting_itself(
        runs, members_only_preset, tmp_path):
    from cpllm_model import CPLLM
    from trainer import ensemble

    primary, members, _ = runs
    own = CPLLM.from_preset(members_only_preset, own_run_only=True)
    assert own.backbone.score_own_path and own.backbone.score_members == []
    videos = _videos(own.preprocessor, 2, seed=9)
    np.testing.assert_array_equal(own.score(videos)["score"],
                                  CPLLM.from_preset(primary).score(videos)["score"])
    paths = ensemble.unpack(members_only_preset, str(tmp_path / "paths"))
    for got, want in zip(paths, [primary, *members], strict=True):
        np.testing.assert_array_equal(CPLLM.from_preset(got).score(videos)["score"],
                                      CPLLM.from_preset(want).score(videos)["score"])


def test_no_own_path_and_no_members_is_refused(tiny_model):
    config = dict(tiny_model.backbone.get_config(), score_members=[],
                  score_own_path=False)
    with pytest.raises(ValueError, match="needs score_members"):
        type(tiny_model.backbone).from_config(config)


def test_members_reading_frame_pairs_give_the_primary_their_view(runs, tmp_path):
    """Members with a motion input read frame to frame (Hf = 2) and a primary reading key
    frames only: the pack reads the pairs, the primary's scores and tokens (the decoder's
    prefix: describe and compare) do not move. tests/test_demo.py describes with the
    bundled pack end to end."""
    from cpllm_model import CPLLM
    from trainer import ensemble, train

    primary, members, _ = runs
    paired = []
    for i, path in enumerate(members):
        run = train.with_added_layers(CPLLM.from_preset(path),
                                      {"motion_input": True, "high_level_frames": 2})
        run.backbone.motion_shift.weight.assign(-0.01 * (i + 1))
        paired.append(str(tmp_path / f"paired{i}"))
        run.save_to_preset(paired[-1])
    pack_path = str(tmp_path / "pack")
    ensemble.build(primary, paired, score_own_path=False).save_to_preset(pack_path)
    pack = CPLLM.from_preset(pack_path)
    assert pack.preprocessor.high_level_frames == 2 and pack.preprocessor.frames_per_key == 2
    videos = _videos(pack.preprocessor, 2, seed=12)
    keys = dict(videos, high_frames=videos["high_frames"][:, ::2])
    each = [CPLLM.from_preset(p).score(videos)["frame_scores"] for p in paired]
    unshifted = CPLLM.from_preset(members[0]).score(keys)["frame_scores"]
    assert np.abs(each[0] - unshifted).max() > 0.1  # the members do read the second frame
    np.testing.assert_allclose(pack.score(videos)["frame_scores"], np.mean(each, axis=0),
                               atol=1e-4)
    before = CPLLM.from_preset(primary)
    own = CPLLM.from_preset(pack_path, own_run_only=True)
    np.testing.assert_array_equal(own.score(videos)["score"], before.score(keys)["score"])
    one = lambda v: {k: x[:1] for k, x in v.items()}
    np.testing.assert_allclose(np.asarray(pack._encode(one(videos))[0]),
                               np.asarray(before._encode(one(keys))[0]), atol=1e-5)
    with_motion = str(tmp_path / "primary_with_motion")
    train.with_added_layers(CPLLM.from_preset(primary),
                            {"motion_input": True}).save_to_preset(with_motion)
    with pytest.raises(ValueError, match="has a motion input"):
        ensemble.build(with_motion, paired)
    with pytest.raises(ValueError, match="must read the same inputs"):
        ensemble.build(paired[0], members)  # members reading fewer frames than the primary
