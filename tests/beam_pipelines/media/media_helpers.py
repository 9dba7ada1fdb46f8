"""Helpers of the media tests: the self-numbering "index clip" and ffmpeg shortcuts.

The index clip carries its own frame number in every frame as an 8-bit barcode (eight
vertical 8-pixel stripes, black = 0, white = 1, most significant bit left), so a test can
read which frame ffmpeg returned.
"""
import numpy as np

from beam_pipelines.media import ffmpeg_bin

BAR_W = 8
IDX_FPS = 10
IDX_FRAMES = 40          # 4.0 s at 10 fps
IDX_GOP = 12             # I-frames at 0, 1.2, 2.4, 3.6 s: seeks must decode past them


def barcode_frames(indices, width=64, height=48) -> np.ndarray:
    """uint8[N, height, width, 3]: frame j shows ``indices[j]`` in binary stripes."""
    out = np.zeros((len(indices), height, width, 3), np.uint8)
    for j, n in enumerate(indices):
        for bit in range(8):
            if (int(n) >> (7 - bit)) & 1:
                out[j, :, bit * BAR_W:(bit + 1) * BAR_W] = 255
    return out


def read_barcode(frame: np.ndarray) -> int:
    """Inverse of ``barcode_frames`` for one decoded uint8[H, W, 3] frame."""
    grey = frame[:, :8 * BAR_W].mean(axis=(0, 2))
    bits = [int(grey[b * BAR_W + 2:(b + 1) * BAR_W - 2].mean() > 128) for b in range(8)]
    return int("".join(map(str, bits)), 2)


def encode_rgb(path, frames: np.ndarray, *, fps=IDX_FPS, codec_args=None, in_args=(),
               vf=None) -> str:
    """Encodes uint8[N, H, W, 3] frames with ffmpeg (lossless x264 4:4:4 by default)."""
    _, h, w, _ = frames.shape
    codec_args = codec_args or ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p",
                                "-g", str(IDX_GOP), "-threads", "1"]
    args = ["-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{w}x{h}", "-r", str(fps), *in_args, "-i", "pipe:0"]
    if vf:
        args += ["-vf", vf]
    ffmpeg_bin.run([*args, *codec_args, "file:" + str(path)], timeout_s=60, check=True,
                   input_bytes=frames.tobytes())
    return str(path)


def ffmpeg(*args) -> None:
    ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-y", *map(str, args)],
                   timeout_s=120, check=True)
