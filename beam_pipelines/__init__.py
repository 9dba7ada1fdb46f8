"""Apache Beam pipelines around CP-LLM: media I/O, scoring, ladders, training data."""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
