"""keras-hub's own model test harness (`keras_hub.src.tests.test_case.TestCase`) on a
tiny CPLLMBackbone, beside the behaviour tests: serialization round trips, eager and
compiled calls (`predict` on arrays and on a tf.data pipeline), token embedding with
variable-length text, and a `.keras` save/load that gives the same outputs.

Not run: keras-hub's quantization check (int8/float8 through a DTypePolicyMap: the
encoders nested in the backbone do not take the map's per-path policies yet, so their
Dense layers stay unquantized: a missing feature, noted in issue 13), and its
mixed-precision check, which wants every float output in the
policy's compute dtype: CP-LLM's frame scores and score are float32 by construction (the
bounded head is computed in float32 under any policy; bf16 compute with float32 master
weights is tested in tests/trainer/test_mixed_precision.py).
"""
import numpy as np
from keras_hub.models import SigLIPVisionEncoder, VideoPrismBackbone
from keras_hub.src.tests import test_case

from cpllm_model import CPLLMBackbone

K, M, S, P, T = 2, 3, 32, 16, 5


def _init_kwargs():
    return {
        "high_level_encoder": SigLIPVisionEncoder(
            image_shape=(S, S, 3), patch_size=16, hidden_dim=8, num_layers=1, num_heads=2,
            intermediate_dim=16),
        "low_level_encoder": VideoPrismBackbone(
            image_shape=(P, P, 3), num_frames=1, patch_size=8, hidden_dim=8,
            intermediate_dim=16, num_heads=2, num_spatial_layers=1, num_temporal_layers=1,
            num_auxiliary_layers=0),
        "vocabulary_size": 32, "num_layers": 1, "num_query_heads": 2,
        "num_key_value_heads": 1, "hidden_dim": 16, "intermediate_dim": 32, "head_dim": 8,
        "num_keyframes": K, "max_patches": M, "head_hidden_dim": 8,
        "low_level_detail_gain": 8.0, "low_level_contrast_norm": True,
    }


def _inputs(batch=2, t=T):
    rng = np.random.default_rng(0)
    return {
        "high_frames": rng.integers(0, 256, (batch, K, S, S, 3), dtype=np.uint8),
        "low_patches": rng.integers(0, 256, (batch, K, M, P, P, 3), dtype=np.uint8),
        "patch_mask": np.ones((batch, K, M), "float32"),
        "token_ids": rng.integers(1, 32, (batch, t)).astype("int32"),
        "padding_mask": np.ones((batch, t), "int32"),
        "response_mask": np.concatenate(
            [np.zeros((batch, t - 2), "int32"), np.ones((batch, 2), "int32")], axis=1),
    }


class CPLLMBackboneHarnessTest(test_case.TestCase):
    test_session = None  # tf.test.TestCase's helper, not a test (pytest would skip it)

    def test_backbone_basics(self):
        vision_tokens = K * ((S // 16) ** 2 + (P // 8) ** 2)
        self.run_backbone_test(
            cls=CPLLMBackbone,
            init_kwargs=_init_kwargs(),
            input_data=_inputs(),
            expected_output_shape={"sequence_output": (2, vision_tokens + T, 16),
                                   "frame_scores": (2, K), "score": (2,)},
            # text of 3 and 4 tokens (the vision inputs keep their K and M)
            variable_length_data=[_inputs(t=3), _inputs(t=4)],
            run_mixed_precision_check=False,  # float32 score by design (module docstring)
            run_quantization_check=False,  # not supported yet (module docstring)
        )

    def test_saved_model(self):
        self.run_model_saving_test(cls=CPLLMBackbone, init_kwargs=_init_kwargs(),
                                   input_data=_inputs())

    def test_preprocessor_and_task_serialization(self):
        from cpllm_model import CPLLM

        model = CPLLM.from_preset("cpllm_tiny")
        self.run_serialization_test(model.preprocessor)
        self.run_serialization_test(model)
