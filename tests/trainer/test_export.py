"""trainer.export: a trained preset written as the preset it scores as."""
import numpy as np
import pytest


def test_export_writes_the_scoring_choices_and_keeps_the_weights(tiny_preset, tiny_config,
                                                                 tmp_path):
    from cpllm_model import CPLLM
    from trainer import config_lib, export

    config = config_lib.apply_overrides(tiny_config, [
        "model.score_max_patches=24", "model.score_low_level_views=4",
        "model.score_patch_fill=True"])
    out = str(tmp_path / "exported")
    export.export(tiny_preset, config, out)
    before, after = CPLLM.from_preset(tiny_preset), CPLLM.from_preset(out)
    assert after.preprocessor.max_patches == 24 and after.backbone.low_level_views == 4
    assert after.preprocessor.patch_fill and not before.preprocessor.patch_fill
    assert before.backbone.low_level_views == 1
    for a, b in zip(before.backbone.get_weights(), after.backbone.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="must differ"):
        export.export(out, config, out)
    bad = config_lib.apply_overrides(tiny_config, ["model.score_low_level_views=9"])
    with pytest.raises(ValueError, match="low_level_views must be in 1..8"):
        export.export(tiny_preset, bad, str(tmp_path / "bad"))


def test_export_imports_beside_the_evaluation_clis():
    """Both evaluation CLIs define --preset and --output at import; export must not clash."""
    import subprocess
    import sys
    code = "import trainer.eval_families, trainer.export; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
