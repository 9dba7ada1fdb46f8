"""PatchChange: how much each low-level cell changes to the frame after its key frame.

    change = PatchChange(hidden_dim=D, name="patch_change")(low_patches)
      low_patches uint8[B, K, M, P, P, 3], clips of T = 2 (slot 2c: cell c of the key
      frame, slot 2c + 1: the same cell of the frame after it, `frames.low_level_clips`)
      -> float[B, K, M / 2, D], added to each cell's patch feature (0 until trained)

Per cell, on the 0-255 scale at native resolution, the mean |luma(next) - luma(key)|
(BT.709 luma), read as f = log(1 + change) and projected to D by a Dense layer whose
kernel and bias start at zero: an added PatchChange changes no score until trained.

Why: a cell's fine detail either changes from one frame to the next, as camera noise and
film grain do in the master, or stands still where x264 removed the noise and copied the
block. A key frame alone cannot tell kept noise from texture, nor a denoised flat area
from a clean one; above 12 fps the key frames' grain goes inside the fine ladder and the
single-frame paths mis-order it. The change is a subtraction per cell, not a second
VideoPrism pass (`ClipMixer`). docs/TRAINING.md "What the frame after a key frame says
about noise, a probe" and "A per-cell change input".
"""
import keras
from keras import ops

from cpllm_model.frames import LUMA

PACKAGE = "cpllm"


def cell_change(low_patches):
    """uint8[B, K, M, P, P, 3] (clips of 2 frames) -> float32[B, K, M / 2]: log(1 + mean
    |luma(next) - luma(key)|) of each cell, luma on the 0-255 scale."""
    x = ops.cast(low_patches, "float32")
    luma = x[..., 0] * LUMA[0] + x[..., 1] * LUMA[1] + x[..., 2] * LUMA[2]
    diff = ops.abs(luma[:, :, 1::2] - luma[:, :, ::2])
    return ops.log1p(ops.mean(diff, axis=(3, 4)))


@keras.saving.register_keras_serializable(package=PACKAGE)
class PatchChange(keras.layers.Layer):
    """See the module docstring. hidden_dim: D, the width of the patch features."""

    def __init__(self, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.projection = keras.layers.Dense(
            self.hidden_dim, kernel_initializer="zeros", bias_initializer="zeros",
            dtype=self.dtype_policy, name="projection")

    def build(self, low_patches_shape):
        self.projection.build((None, 1))
        self.built = True

    def call(self, low_patches):
        change = ops.cast(cell_change(low_patches), self.compute_dtype)
        return self.projection(change[..., None])

    def compute_output_spec(self, low_patches):
        b, k, m = low_patches.shape[:3]
        return keras.KerasTensor((b, k, None if m is None else m // 2, self.hidden_dim),
                                 dtype=self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim}
