r"""Sample content for demos, tests and training: lossless clips and H.264 CRF ladders.

Sources are scikit-image's bundled images animated with a slow pan and zoom (rendered in
numpy, bilinear, deterministic) and ffmpeg's own generators (``testsrc2``,
``mandelbrot``, ``life``, ...). Masters are lossless H.264 (``-qp 0``; 4:2:0, or 4:4:4
for odd sizes), so VMAF against them is meaningful. Every encode runs x264 with
``-threads 1`` and bit-exact flags: the same call gives the same bytes.

    python -m beam_pipelines.media.samples --out DIR --sources astronaut,testsrc2 \
        --crfs 18,28,38

writes ``DIR/masters/<source>.mkv``, ``DIR/<source>/<source>_crf<N>.mp4`` and
``DIR/catalog.csv`` (video_id,uri,source_id,crf).
"""
import argparse
import csv
import os

import numpy as np

from beam_pipelines.media import ffmpeg_bin
from beam_pipelines.media import transcode as transcode_lib

# skimage.data images that ship inside the wheel (no download; checked offline).
IMAGE_SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins",
                 "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel", "moon",
                 "clock", "brick", "grass", "gravel", "cat", "page", "text")
# ffmpeg lavfi generators; {w} {h} {fps} are filled in.
GENERATOR_SOURCES = {
    "testsrc2": "testsrc2=size={w}x{h}:rate={fps}",
    "testsrc": "testsrc=size={w}x{h}:rate={fps}",
    "mandelbrot": "mandelbrot=size={w}x{h}:rate={fps}",
    "smptehdbars": "smptehdbars=size={w}x{h}:rate={fps}",
    "rgbtestsrc": "rgbtestsrc=size={w}x{h}:rate={fps}",
    "cellauto": "cellauto=size={w}x{h}:rate={fps}:rule=110:seed=7:random_fill_ratio=0.5",
    "life": "life=size={w}x{h}:rate={fps}:seed=7:ratio=0.2:mold=10:"
            "life_color=#00ff00:death_color=#c83232:mold_color=#101080",
    # gradients' colours default to "random", drawn from the clock (not from `seed`):
    # name them, or every render differs.
    "gradients": "gradients=size={w}x{h}:rate={fps}:seed=7:speed=0.02:"
                 "nb_colors=2:c0=0x2a6fdb:c1=0xf2b134",
}
SOURCES = [*IMAGE_SOURCES, *GENERATOR_SOURCES]


def load_image(name: str) -> np.ndarray:
    """uint8[H, W, 3] RGB version of a skimage.data image (grey and RGBA converted)."""
    import skimage.data  # pylint: disable=import-outside-toplevel
    img = np.asarray(getattr(skimage.data, name)())
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def pan_zoom_frames(img: np.ndarray, n: int, size: tuple[int, int],
                    seed: int = 0) -> np.ndarray:
    """uint8[N, H, W, 3]: a window of ``img`` moving and zooming in slowly.

    The window keeps the output aspect ratio, starts at 80% of the largest window that
    fits, shrinks to 60% and travels between two corners chosen by ``seed``; pixels are
    sampled bilinearly. Pure numpy, deterministic.
    """
    out_w, out_h = size
    ih, iw = img.shape[:2]
    full = min(iw / out_w, ih / out_h)  # image pixels per output pixel, largest window
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0.0, 1.0, size=(2, 2))
    frames = np.empty((n, out_h, out_w, 3), np.uint8)
    src = img.astype(np.float32)
    for j in range(n):
        a = j / max(1, n - 1)
        scale = full * (0.8 - 0.2 * a)
        win_w, win_h = out_w * scale, out_h * scale
        fx, fy = (1 - a) * corners[0] + a * corners[1]
        x0, y0 = fx * (iw - win_w), fy * (ih - win_h)
        xs = np.clip(x0 + (np.arange(out_w) + 0.5) * scale - 0.5, 0, iw - 1)
        ys = np.clip(y0 + (np.arange(out_h) + 0.5) * scale - 0.5, 0, ih - 1)
        x_lo, y_lo = np.floor(xs).astype(int), np.floor(ys).astype(int)
        x_hi, y_hi = np.minimum(x_lo + 1, iw - 1), np.minimum(y_lo + 1, ih - 1)
        wx, wy = (xs - x_lo)[None, :, None], (ys - y_lo)[:, None, None]
        top = src[y_lo][:, x_lo] * (1 - wx) + src[y_lo][:, x_hi] * wx
        bot = src[y_hi][:, x_lo] * (1 - wx) + src[y_hi][:, x_hi] * wx
        frames[j] = np.clip(np.rint(top * (1 - wy) + bot * wy), 0, 255).astype(np.uint8)
    return frames


def _encode_args(dst: str, size, lossless: bool) -> list[str]:
    odd = size[0] % 2 or size[1] % 2
    args = ["-c:v", "libx264", "-preset", "veryfast", "-threads", "1",
            "-pix_fmt", "yuv444p" if odd else "yuv420p", "-g", "48",
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"]
    args += ["-qp", "0"] if lossless else ["-crf", "18"]
    if dst.lower().endswith((".mp4", ".mov")):
        args += ["-movflags", "+faststart"]
    return [*args, "-y", "file:" + os.path.abspath(dst)]


def make_clip(dst: str, source: str, *, seconds: float = 2.0, size=(320, 240),
              fps: int = 24, lossless: bool = True, timeout_s: float = 300.0) -> str:
    """Writes a clip of ``source`` (see ``SOURCES``) to ``dst``; returns ``dst``.

    Args:
        size: (width, height).
        lossless: x264 ``-qp 0`` (a master) or CRF 18.
    """
    w, h = int(size[0]), int(size[1])
    n = max(1, round(seconds * fps))
    os.makedirs(os.path.dirname(os.path.abspath(dst)) or ".", exist_ok=True)
    common = ["-hide_banner", "-loglevel", "error"]
    if source in GENERATOR_SOURCES:
        spec = GENERATOR_SOURCES[source].format(w=w, h=h, fps=fps)
        args = [*common, "-f", "lavfi", "-i", spec, "-frames:v", str(n)]
        ffmpeg_bin.run([*args, *_encode_args(dst, (w, h), lossless)],
                       timeout_s=timeout_s, check=True)
    elif source in IMAGE_SOURCES:
        frames = pan_zoom_frames(load_image(source), n, (w, h),
                                 seed=IMAGE_SOURCES.index(source))
        args = [*common, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                "-r", str(fps), "-i", "pipe:0"]
        ffmpeg_bin.run([*args, *_encode_args(dst, (w, h), lossless)], timeout_s=timeout_s,
                       check=True, input_bytes=frames.tobytes())
    else:
        raise ValueError(f"unknown sample source {source!r}; one of {SOURCES}")
    return dst


def make_ladder(master: str, out_dir: str, crfs: list[int], *, source_id: str,
                preset: str = "veryfast") -> list[dict]:
    """Encodes ``master`` with H.264 at each CRF into ``out_dir``.

    Files are ``<out_dir>/<source_id>_crf<N>.mp4``; an existing rendition is kept (the
    encode is deterministic), a new one is written to a temporary name and renamed.

    Returns:
        Catalog rows ``{"video_id", "uri", "source_id", "crf"}`` in the order of ``crfs``.
    """
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for crf in crfs:
        video_id = f"{source_id}_crf{int(crf)}"
        dst = os.path.abspath(os.path.join(out_dir, f"{video_id}.mp4"))
        if not os.path.exists(dst):
            tmp = dst[:-len(".mp4")] + ".partial.mp4"
            transcode_lib.transcode(master, tmp, int(crf), preset=preset)
            os.replace(tmp, dst)
        rows.append({"video_id": video_id, "uri": dst, "source_id": source_id,
                     "crf": int(crf)})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Write sample clips, CRF ladders and a "
                                     "catalog.csv (video_id,uri,source_id,crf).")
    parser.add_argument("--out", required=True, help="Output directory.")
    parser.add_argument("--sources", default="astronaut,testsrc2",
                        help=f"Comma-separated, from: {','.join(SOURCES)}")
    parser.add_argument("--crfs", default="18,28,38", help="Comma-separated H.264 CRFs.")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--preset", default="veryfast", help="x264 preset of the ladder.")
    args = parser.parse_args(argv)
    crfs = [int(c) for c in args.crfs.split(",") if c.strip()]
    rows = []
    for source in (s.strip() for s in args.sources.split(",") if s.strip()):
        master = os.path.join(args.out, "masters", f"{source}.mkv")
        if not os.path.exists(master):
            make_clip(master, source, seconds=args.seconds, size=(args.width, args.height),
                      fps=args.fps)
        rows += make_ladder(master, os.path.join(args.out, source), crfs, source_id=source,
                            preset=args.preset)
    catalog = os.path.join(args.out, "catalog.csv")
    with open(catalog, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} renditions and {catalog}")


if __name__ == "__main__":
    main()
