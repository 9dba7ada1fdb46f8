"""Apache Beam pipelines around CP-LLM: media I/O, scoring, ladders, training data."""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow is only used for text ops and tf.data
