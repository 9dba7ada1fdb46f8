"""Multi-task trainer for CP-LLM (ranking + regression + description losses)."""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
