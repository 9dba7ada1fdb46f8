"""Multi-task trainer for CP-LLM (ranking + regression + description losses)."""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow is only used for text ops and tf.data
