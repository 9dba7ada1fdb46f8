"""``transcode``: the ladder encoder (one rendition of a master at a CRF)."""
import os

from beam_pipelines.media import errors, ffmpeg_bin, storage

_CRF_RANGE = {"libx264": (0, 51), "libx265": (0, 51), "libvpx-vp9": (0, 63),
              "libsvtav1": (0, 63), "libaom-av1": (0, 63)}


def transcode(src: str, dst: str, crf: int, *, codec: str = "libx264",
              preset: str = "medium", timeout_s: float = 600.0,
              height: int | None = None) -> None:
    """Encodes the first video stream of local ``src`` to ``dst`` at constant quality.

    8-bit 4:2:0 output (``yuv420p``), no audio, ``-threads 1`` so the same call gives the
    same bytes on any machine (x264's output depends on its thread count). ``preset`` is
    x264/x265's speed preset (ignored by other encoders). The container follows ``dst``'s
    extension; ``.mp4`` files get ``+faststart``. ``height``: downscale to that height
    first (Lanczos, width kept to the aspect and even), a rung of a multi-size ladder.

    Raises:
        ValueError: unknown codec or a CRF outside its range.
        MediaError subclasses: an unreadable ``src`` (stage "read"), ffmpeg failure
        (DecodeError) or timeout (DecodeTimeout).
    """
    if codec not in _CRF_RANGE:
        raise ValueError(f"unsupported codec {codec!r}; one of {sorted(_CRF_RANGE)}")
    lo, hi = _CRF_RANGE[codec]
    if not lo <= int(crf) <= hi:
        raise ValueError(f"crf {crf} outside [{lo}, {hi}] for {codec}")
    src_path = storage.check_local_file(src)
    os.makedirs(os.path.dirname(os.path.abspath(dst)) or ".", exist_ok=True)
    args = ["-hide_banner", "-loglevel", "error", "-y",
            "-protocol_whitelist", ffmpeg_bin.PROTOCOL_WHITELIST,
            "-i", storage.ffmpeg_input(src_path), "-map", "0:v:0", "-an", "-sn", "-dn"]
    if height is not None:
        args += ["-vf", f"scale=-2:{int(height)}:flags=lanczos"]
    args += ["-c:v", codec, "-crf", str(int(crf)), "-pix_fmt", "yuv420p", "-threads", "1",
             "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"]
    if codec in ("libx264", "libx265"):
        args += ["-preset", preset]
    if codec == "libx265":
        args += ["-x265-params", "log-level=error:pools=1:frame-threads=1"]
    if codec == "libvpx-vp9":
        args += ["-b:v", "0"]
    if dst.lower().endswith((".mp4", ".mov", ".m4v")):
        args += ["-movflags", "+faststart"]
    ffmpeg_bin.run([*args, storage.ffmpeg_input(dst)], timeout_s=timeout_s, check=True)
    if not os.path.exists(dst) or os.path.getsize(dst) == 0:
        raise errors.DecodeError(f"transcode wrote nothing to {dst!r}", uri=src)
