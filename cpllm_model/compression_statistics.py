"""CompressionStatistics: fixed measurements of what a codec does to a patch's pixels.

    stats = CompressionStatistics(name="compression_statistics")
    features = stats(patches)   # float[N, P, P, 3] in [0, 1] -> float32[N, F], F = 20

A block codec at a higher CRF quantises more of each block's transform coefficients to
zero. On the decoded pixels this shows as (a) less fine detail, more at the finest scale
than at coarser ones (the spectrum's tail is cut), (b) more neighbouring pixels with
exactly the same value (flat runs where noise, grain or texture were), (c) a detail layer
that is sparser (few large edges, many zeros) and (d) steps at the transform-block
boundaries (4 and 8 pixels for H.264, 8..32 for others), which the deblocking filter only
partly hides. These are the statistics no-reference metrics of compression have used for
decades (blockiness and blur detectors, BRISQUE's MSCN shape, NIQE's multi-scale energy);
here they are a fixed, weight-free front end whose values a trained layer combines, next
to the learned VideoPrism features. Patches must be cut at native resolution with
8-aligned origins (`frames.patch_grid` aligns them to 16), so a block boundary sits at
the same column of every patch; rotations and mirrors of a 32 x 32 patch keep it on the
grid.

All on BT.709 luma Y in code values (0..255), per patch, "valid" windows only (no
padding at the patch border). Features (F = 20):
  0..2   log(1 + E[L_s^2]), L_s = Y_s - 3x3 mean of Y_s at scales s = 1, 1/2, 1/4
         (Y_{s/2} = 2x2 mean of Y_s): detail energy per octave
  3..4   the octave ratios log((1+E[L_1^2]) / (1+E[L_1/2^2])) and the next (spectral tilt)
  5..7   share of horizontal+vertical neighbour differences |dY| below 0.5, 1.5, 3.5
         code values (exactly equal, within 1, within 3)
  8      E|L_1| / sqrt(E[L_1^2] + 1): shape of the detail distribution (small = sparse)
  9      E[log(1 + sigma_1)] / 4, sigma_1 the local (3x3) standard deviation of L_1
 10..11  log of (1 + mean |dY| on 8-block boundaries) / (1 + mean |dY| elsewhere), and
         the same on 4-block boundaries that are not 8-block ones
 12..13  the same ratios for the 2nd differences |d2Y| centred on either side of a
         boundary, which a smooth gradient does not raise
 14      log(1 + mean |dY|): mean absolute gradient
 15..16  share of 3x3 windows of L_1 whose energy is below 1 and below 4 (flat areas)
 17      share of neighbour differences above 16 code values (strong edges)
 18..19  mean luma / 255 and log(1 + luma standard deviation): exposure and contrast
"""
import keras
import numpy as np
from keras import ops

from cpllm_model.frames import LUMA

PACKAGE = "cpllm"
NUM_FEATURES = 20


def _box3(x):
    """3x3 box mean of float[N, H, W], valid: [N, H-2, W-2]."""
    rows = x[:, :-2] + x[:, 1:-1] + x[:, 2:]
    return (rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]) / 9.0


def _half(x):
    """2x2 mean with stride 2 of float[N, H, W] (H, W even): [N, H/2, W/2]."""
    return 0.25 * (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2]
                   + x[:, 1::2, 1::2])


def _laplacian(y):
    """Detail layer: Y - 3x3 mean, on the valid interior [N, H-2, W-2]."""
    return y[:, 1:-1, 1:-1] - _box3(y)


def _mean(x):
    return ops.mean(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)


def _ratio(diff, on, off):
    """log((1 + mean of float[N, H, W] `diff` over columns `on`) / (1 + over `off`))."""
    on = ops.mean(ops.take(diff, on, axis=2), axis=(1, 2))
    off = ops.mean(ops.take(diff, off, axis=2), axis=(1, 2))
    return ops.log((1.0 + on) / (1.0 + off))


def _step_boundary_ratio(diff, period, exclude=None):
    """`_ratio` of first differences float[N, H, W - 1] (column j = the step between
    pixels j and j + 1) on the block boundaries of `period` (j + 1 a multiple of it)
    against all other columns; boundaries of `exclude` count on neither side."""
    on = [j for j in range(diff.shape[-1]) if (j + 1) % period == 0
          and not (exclude and (j + 1) % exclude == 0)]
    off = [j for j in range(diff.shape[-1]) if (j + 1) % period != 0]
    return _ratio(diff, on, off)


def _curvature_boundary_ratio(diff, period, exclude=None):
    """The same for second differences float[N, H, W - 2] (column j centred on pixel
    j + 1): a boundary between pixels b - 1 and b raises those centred on both."""
    def at_boundary(j, q):
        return (j + 1) % q in (0, q - 1)

    on = [j for j in range(diff.shape[-1]) if at_boundary(j, period)
          and not (exclude and at_boundary(j, exclude))]
    off = [j for j in range(diff.shape[-1]) if not at_boundary(j, period)]
    return _ratio(diff, on, off)


@keras.saving.register_keras_serializable(package=PACKAGE)
class CompressionStatistics(keras.layers.Layer):
    """float[N, P, P, 3] patches in [0, 1] -> float32[N, NUM_FEATURES] (module docstring).

    The measurements have no weights; they leave the layer standardised,
    (raw - feature_mean) / feature_scale, with two non-trainable float32[F] weights that
    start at 0 and 1 and are set once from training data before training
    (`set_standardization`, the trainer's `model.init_statistics_from_data`), then saved
    with the model like any weight. Computed in float32 whatever the dtype policy (counts
    of equal code values need exact arithmetic). P must be a multiple of 8.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.num_features = NUM_FEATURES

    def build(self, input_shape):
        self.feature_mean = self.add_weight(
            shape=(NUM_FEATURES,), initializer="zeros", trainable=False,
            dtype="float32", name="feature_mean")
        self.feature_scale = self.add_weight(
            shape=(NUM_FEATURES,), initializer="ones", trainable=False,
            dtype="float32", name="feature_scale")
        self.built = True

    def set_standardization(self, mean, scale):
        """Sets the standardisation from float[F] means and scales (scales > 0)."""
        mean = np.asarray(mean, np.float32).reshape(NUM_FEATURES)
        scale = np.asarray(scale, np.float32).reshape(NUM_FEATURES)
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError("standardisation needs finite means and positive scales")
        if not self.built:
            self.build(None)
        self.feature_mean.assign(mean)
        self.feature_scale.assign(scale)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], NUM_FEATURES)

    def call(self, patches):
        return (self.measure(patches) - self.feature_mean) / self.feature_scale

    def measure(self, patches):
        """The raw measurements (before standardisation): float32[N, NUM_FEATURES]."""
        x = ops.cast(patches, "float32") * 255.0
        y = LUMA[0] * x[..., 0] + LUMA[1] * x[..., 1] + LUMA[2] * x[..., 2]
        # Luma of decoded RGB is not on the integer grid; round so "equal" is exact.
        y = ops.round(y)
        l1 = _laplacian(y)
        y2 = _half(y)
        l2 = _laplacian(y2)
        l4 = _laplacian(_half(y2))
        e1, e2, e4 = (ops.log1p(_mean(l * l)) for l in (l1, l2, l4))

        dx = ops.abs(y[:, :, 1:] - y[:, :, :-1])
        dy = ops.abs(y[:, 1:, :] - y[:, :-1, :])
        dy_t = ops.swapaxes(dy, 1, 2)  # vertical steps as columns: same boundary rule
        both = ops.concatenate([dx, dy_t], axis=1)

        def share(cond):
            return _mean(ops.cast(cond, "float32"))

        d2x = ops.abs(y[:, :, 2:] - 2.0 * y[:, :, 1:-1] + y[:, :, :-2])
        d2y = ops.swapaxes(ops.abs(y[:, 2:, :] - 2.0 * y[:, 1:-1, :] + y[:, :-2, :]),
                           1, 2)
        d2 = ops.concatenate([d2x, d2y], axis=1)

        local_energy = _box3(l1 * l1)
        sigma = ops.sqrt(ops.maximum(local_energy - _box3(l1) ** 2, 0.0))
        features = [
            e1, e2, e4, e1 - e2, e2 - e4,
            share(both < 0.5), share(both < 1.5), share(both < 3.5),
            _mean(ops.abs(l1)) / ops.sqrt(_mean(l1 * l1) + 1.0),
            _mean(ops.log1p(sigma)) / 4.0,
            _step_boundary_ratio(both, 8), _step_boundary_ratio(both, 4, exclude=8),
            _curvature_boundary_ratio(d2, 8), _curvature_boundary_ratio(d2, 4, exclude=8),
            ops.log1p(_mean(both)),
            share(local_energy < 1.0), share(local_energy < 4.0),
            share(both > 16.0),
            _mean(y) / 255.0,
            ops.log1p(ops.std(ops.reshape(y, (ops.shape(y)[0], -1)), axis=-1)),
        ]
        return ops.stack(features, axis=-1)

    def get_config(self):
        return super().get_config()


def patch_moments(layer, low_patches, patch_mask, batch_size=64):
    """Moments of `layer`'s raw measurements over the real patches, as one vector.

    low_patches: uint8[N, K, M, P, P, 3]; patch_mask: float32[N, K, M] (1.0 = real).
    Returns float64[1 + 2F]: (count, sum[F], sum of squares[F]), which add up over data
    shards and processes; `standardization_from_moments` turns the total into the
    standardisation.
    """
    import jax  # the trainer's backend; the layer itself is backend-neutral

    p = low_patches.shape[-2]

    @jax.jit
    def measure(x):
        return layer.measure(x.reshape(-1, p, p, 3).astype("float32") / 255.0)

    moments = np.zeros(1 + 2 * NUM_FEATURES)
    for i in range(0, len(low_patches), batch_size):
        m = np.asarray(measure(low_patches[i:i + batch_size]), np.float64)
        m = m[np.asarray(patch_mask[i:i + batch_size]).reshape(-1) > 0]
        moments += np.concatenate([[len(m)], m.sum(0), (m * m).sum(0)])
    return moments


def standardization_from_moments(moments):
    """(mean float64[F], scale float64[F]) from `patch_moments` (summed); a feature
    that never varies gets scale 1."""
    count, total, squares = (moments[0], moments[1:1 + NUM_FEATURES],
                             moments[1 + NUM_FEATURES:])
    if count <= 0:
        raise ValueError("no real patches to standardise the statistics with")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    return mean, np.where(std > 1e-6, std, 1.0)
