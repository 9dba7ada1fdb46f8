"""CP-LLM: a compression-perceptive multimodal quality model (Keras 3, keras-hub parts).

Importing this package makes JAX the default Keras backend unless the user chose one.

    from cpllm_model import CPLLM
    model = CPLLM.from_preset("cpllm_tiny")
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow is only used for text ops and tf.data

from cpllm_model import paper  # noqa: F401 - registers the "cpllm_paper" assembly
from cpllm_model.backbone import CPLLMBackbone
from cpllm_model.cpllm import CPLLM
from cpllm_model.preprocessor import CPLLMPreprocessor, CPLLMTokenizer

__all__ = ["CPLLM", "CPLLMBackbone", "CPLLMPreprocessor", "CPLLMTokenizer"]
