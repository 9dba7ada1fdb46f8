"""CP-LLM: a compression-perceptive multimodal quality model (Keras 3, keras-hub parts).

Importing this package makes JAX the default Keras backend unless the user chose one.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
