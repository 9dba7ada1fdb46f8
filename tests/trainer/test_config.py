"""Configs load, overrides are typed, typos are errors."""
import os

import pytest

from trainer import config_lib, train

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "trainer", "configs")


def _load(name):
    return config_lib.load_config(os.path.join(CONFIGS, name + ".py"))


def test_paper_config_is_the_papers_recipe():
    c = _load("cpllm_paper")
    assert (c.train_modes.high_level, c.train_modes.decoder) == ("frozen", "lora")
    assert c.train_modes.lora_rank == 8
    assert c.input.mode == "mix"
    assert c.loss.regression_targets == "originals"
    assert c.loss.ranking_weight == c.loss.regression_weight == c.loss.text_weight


def test_tiny_config_trains_from_scratch_with_a_full_decoder():
    c = _load("cpllm_tiny")
    assert (c.train_modes.high_level, c.train_modes.decoder) == ("frozen", "full")
    assert c.model.reinitialize and c.input.augment
    assert c.loss.regression_targets == "all" and c.input.rank_by == "crf"


def test_m64_experiment_fine_tunes_stage_one_on_its_records():
    c, base = _load("cpllm_tiny_m64"), _load("cpllm_tiny")
    assert not c.model.reinitialize and c.model.max_patches == c.model.score_max_patches == 64
    assert c.model.preset == "out/cpllm_tiny_stage1" and not c.model.backbone_overrides
    assert c.optimizer.learning_rate < base.optimizer.learning_rate
    assert (c.loss.ranking_weight, c.input.pair_fraction) == (base.loss.ranking_weight,
                                                             base.input.pair_fraction)


def test_overrides_parse_to_the_existing_type():
    c = config_lib.apply_overrides(_load("cpllm_tiny"), [
        "num_steps=7", "optimizer.learning_rate=0.5", "model.reinitialize=false",
        "input.mode=pair", "data.dir=/x=y"])
    assert c.num_steps == 7 and isinstance(c.num_steps, int)
    assert c.optimizer.learning_rate == 0.5
    assert c.model.reinitialize is False
    assert c.input.mode == "pair"
    assert c.data.dir == "/x=y"
    assert _load("cpllm_tiny").num_steps != 7  # the original is untouched


@pytest.mark.parametrize("bad", ["num_stepz=3", "optimizer.lr=1", "seed", "num_steps=abc"])
def test_bad_overrides_are_errors(bad):
    with pytest.raises((KeyError, ValueError)):
        config_lib.apply_overrides(_load("cpllm_tiny"), [bad])


def test_dark_run_trains_on_from_a_bundled_member_with_the_dark_build():
    c, base = _load("cpllm_tiny_dark"), _load("cpllm_tiny_illustration")
    assert not c.model.reinitialize and not c.model.backbone_overrides
    assert c.model.preset == "out/cpllm_tiny_illustration_seed1"
    assert c.data.extra_train_dirs == (*base.data.extra_train_dirs, "out/dark_data")
    assert c.optimizer.learning_rate < base.optimizer.learning_rate
    assert c.num_steps < base.num_steps


def test_presets_run_trains_on_a_bundled_member_with_the_mixed_preset_build():
    c, base, dark = (_load("cpllm_tiny_presets"), _load("cpllm_tiny_illustration"),
                     _load("cpllm_tiny_dark"))
    assert c.seed == 0 and c.model.preset == "out/cpllm_tiny_illustration"
    assert not c.model.reinitialize and not c.model.backbone_overrides
    assert c.data.extra_train_dirs == (*base.data.extra_train_dirs, "out/presets_data")
    assert (c.optimizer.learning_rate, c.num_steps) == (dark.optimizer.learning_rate,
                                                        dark.num_steps)


def test_motion_run_adds_the_motion_input_to_a_bundled_member_on_its_own_data():
    c, base, dark = (_load("cpllm_tiny_motion"), _load("cpllm_tiny_illustration"),
                     _load("cpllm_tiny_dark"))
    assert c.seed == 1 and c.model.preset == "out/cpllm_tiny_illustration_seed1"
    assert not c.model.reinitialize and dict(c.model.backbone_overrides) == {
        "motion_input": True}
    assert set(c.model.backbone_overrides) <= set(train.ADDED_LAYERS)
    assert c.data.extra_train_dirs == base.data.extra_train_dirs
    assert (c.optimizer.learning_rate, c.num_steps) == (dark.optimizer.learning_rate,
                                                        dark.num_steps)


def test_motion_init_run_starts_the_shift_from_the_fitted_calibration():
    c, base = _load("cpllm_tiny_motion_init"), _load("cpllm_tiny_motion")
    assert tuple(c.model.init_motion_shift) == (-0.3135, 0.1895)
    assert "init_motion_shift" not in base.model
    c.model.init_motion_shift = None
    assert c.to_dict() == base.to_dict() | {"model": {**base.to_dict()["model"],
                                                      "init_motion_shift": None}}
