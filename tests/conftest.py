"""Shared pytest set-up: JAX backend, fixed seeds, session-scoped sample media."""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
