"""MotionShift: how much a video moves, as a learned shift of its score logits.

    shift = MotionShift(frames_per_key=Hf, name="motion_shift")(high_frames)
      high_frames uint8[B, K * Hf, S, S, 3] -> float32[B]

activity, on the 0-255 scale at the high-level path's S x S: with Hf = 1, the mean
|f_{k+1} - f_k| over the K key frames (uniform in time, as scored: their spacing grows
with the video's length); with Hf >= 2 (each key frame followed by the frames after it),
the mean |next - key| over the K key frames, which are one frame apart whatever the
video's length. shift = w * log(1 + activity) + c, with w and c trained and both 0 at first
(an added MotionShift changes no score until trained).

Why: the key frames are scored one by one (one-frame patches), so nothing else in the
score sees motion, yet at one CRF x264 leaves a static title much cleaner than a moving
one, and VMAF says so. docs/TRAINING.md "Calibrating titles by their motion".
"""
import keras
from keras import ops

PACKAGE = "cpllm"


def activity(high_frames, frames_per_key=1):
    """uint8[B, K * Hf, S, S, 3] -> float32[B]: the mean absolute difference of
    consecutive key frames (Hf = `frames_per_key` 1) or of each key frame and the frame
    after it (Hf >= 2; decoders bring that frame `frames.MOTION_FRAME_GAP_S` after the key
    frame, so the difference is measured over 1/12 s at any frame rate)."""
    x = ops.cast(high_frames, "float32")
    if frames_per_key == 1:
        return ops.mean(ops.abs(x[:, 1:] - x[:, :-1]), axis=(1, 2, 3, 4))
    return ops.mean(ops.abs(x[:, 1::frames_per_key] - x[:, ::frames_per_key]),
                    axis=(1, 2, 3, 4))


@keras.saving.register_keras_serializable(package=PACKAGE)
class MotionShift(keras.layers.Layer):
    """See the module docstring."""

    def __init__(self, frames_per_key=1, **kwargs):
        super().__init__(**kwargs)
        self.frames_per_key = int(frames_per_key)

    def build(self, high_frames_shape):
        self.weight = self.add_weight(name="weight", shape=(), initializer="zeros",
                                      dtype="float32")
        self.offset = self.add_weight(name="offset", shape=(), initializer="zeros",
                                      dtype="float32")
        self.built = True

    def call(self, high_frames):
        return self.weight * ops.log1p(activity(high_frames, self.frames_per_key)) + self.offset

    def compute_output_spec(self, high_frames):
        return keras.KerasTensor(tuple(high_frames.shape[:1]), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "frames_per_key": self.frames_per_key}
