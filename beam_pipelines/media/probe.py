"""``probe(uri)``: a video's geometry, timing and colour from ffmpeg's stderr.

There is no ffprobe here, so this parses what ``ffmpeg -hide_banner -i FILE`` prints:

    Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/x.mp4':
      Duration: 00:00:10.00, start: 0.000000, bitrate: 27 kb/s
      Stream #0:0[0x1](und): Video: hevc (Main 10) (hev1 / 0x31766568),
        yuv420p10le(tv, bt2020nc/bt2020/smpte2084, progressive), 3840x2160 [SAR 1:1 DAR 16:9],
        10 kb/s, 23.98 fps, 23.98 tbr, 24k tbn (default)        <- one line in reality
        Side data:
          Display Matrix: rotation of -90.00 degrees

Lines are matched anchored at their start, so container metadata (titles, comments) and
the echoed file name cannot inject fields.
"""
import dataclasses
import os
import re

from beam_pipelines.media import errors, ffmpeg_bin, storage

HDR_TRANSFERS = ("smpte2084", "arib-std-b67")  # PQ (HDR10) and HLG
_FIELD_ORDERS = ("progressive", "top first", "bottom first", "top coded first (swapped)",
                 "bottom coded first (swapped)")
_CHROMA_LOCATIONS = ("left", "center", "topleft", "top", "bottomleft", "bottom")
# Demuxers of still images: a PNG or JPEG "plays" as one frame, but it is not a video.
_IMAGE_FORMAT = re.compile(r"^(image2|\w+_pipe)$")
# Text "video": ffmpeg renders any text file as ANSI art (tty demuxer) and the like.
_TEXT_FORMATS = ("tty", "bin", "xbin", "adf", "idf")
# Playlists and reference files: ffmpeg follows them to other files (a local .m3u8, an
# "ffconcat" script under any name, a DASH manifest, ...) even with the protocol
# whitelist, since those are "file:" too. Inputs are untrusted: refused.
_REFERENCE_FORMATS = ("hls", "concat", "dash", "imf", "webm_dash_manifest", "sdp", "rtsp",
                      "avisynth", "vapoursynth")

_INPUT_RE = re.compile(r"^Input #0, (?P<fmt>\S+), from ", re.MULTILINE)
_DURATION_RE = re.compile(
    r"^\s+Duration: (?:N/A|(?P<h>\d+):(?P<m>\d+):(?P<s>\d+(?:\.\d+)?))"
    r"(?:, start: (?P<start>-?\d+(?:\.\d+)?))?", re.MULTILINE)
_STREAM_RE = re.compile(r"^\s+Stream #0:(?P<index>\d+)\S*: (?P<kind>\w+): (?P<rest>.*)$", re.MULTILINE)
_ROTATION_RE = re.compile(r"^\s+display ?matrix: rotation of (?P<deg>-?\d+(?:\.\d+)?) degrees",
                          re.MULTILINE | re.IGNORECASE)
_STREAM_DURATION_RE = re.compile(
    r"^\s+DURATION\s*: (?P<h>\d+):(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)", re.MULTILINE)
_SAR_RE = re.compile(r"\[SAR (\d+):(\d+) DAR")
_SIZE_RE = re.compile(r"^(?P<w>\d+)x(?P<h>\d+)\b")
_RATE_RE = re.compile(r"^(?P<v>\d+(?:\.\d+)?)(?P<k>k?) (?P<unit>fps|tbr)$")
# "bitrate: 27 kb/s" on the Duration line (the whole container) and "10 kb/s" as a field of
# the video stream line (that stream alone, as the container states it).
_CONTAINER_BITRATE_RE = re.compile(r"^\s+Duration: .*?, bitrate: (?P<v>\d+(?:\.\d+)?) kb/s",
                                   re.MULTILINE)
_STREAM_BITRATE_RE = re.compile(r"^(?P<v>\d+(?:\.\d+)?) kb/s$")


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` learns about the first video stream of a file.

    width, height: frame size in pixels after rotation (a 1920x1080 stream with a
        90 degree display matrix is 1080 wide, 1920 high); anamorphic video keeps its
        stored width here, see ``sample_aspect``.
    duration_s: length in seconds: the video stream's where the container states it
        (Matroska), else the container's; measured by demuxing when neither is stated.
    fps: average frame rate (``fps``), else ffmpeg's ``tbr`` guess; 0.0 if unknown.
    codec: decoder name (``h264``, ``hevc``, ``vp9``, ``av1``, ...).
    pix_fmt: ffmpeg pixel format (``yuv420p``, ``yuv420p10le``, ...).
    bit_depth: bits per component of ``pix_fmt`` (8, 10, 12, ...).
    rotation: clockwise degrees to turn the coded picture for display: 0/90/180/270
        (the legacy ``rotate`` tag; ffmpeg prints the counter-clockwise display matrix
        angle, e.g. "rotation of -90.00 degrees" is rotation 90).
    color_transfer, color_primaries, color_space: ffmpeg names ("smpte2084",
        "bt2020", "bt2020nc", ...) or "" when untagged.
    is_hdr: PQ or HLG transfer.
    stream_bitrate_kbps: the video stream's bitrate as the container states it
        (ffmpeg's "N kb/s" field of the stream line), 0.0 when not stated (Matroska/WebM
        written by ffmpeg, raw streams).
    container_bitrate_kbps: the whole file's bitrate (the Duration line's "bitrate:",
        audio included), 0.0 when ffmpeg prints N/A.
    """

    width: int
    height: int
    duration_s: float
    fps: float
    codec: str
    pix_fmt: str
    bit_depth: int
    rotation: int
    color_transfer: str = ""
    color_primaries: str = ""
    is_hdr: bool = False
    color_space: str = ""
    color_range: str = ""
    interlaced: bool = False
    start_s: float = 0.0
    stream_index: int = 0
    format_name: str = ""
    sample_aspect: float = 1.0  # pixel aspect ratio (SAR); != 1 for anamorphic video
    stream_bitrate_kbps: float = 0.0
    container_bitrate_kbps: float = 0.0
    file_size_bytes: int = 0  # set by probe_local; 0 when unknown

    def bitrate(self) -> tuple[float | None, str | None]:
        """(kbps, source): the video stream's bitrate as the container states it
        ("stream"), else the whole file's as ffmpeg reports it ("container"), else file
        size x 8 / duration ("file_size"); (None, None) when none is known."""
        if self.stream_bitrate_kbps > 0:
            return float(self.stream_bitrate_kbps), "stream"
        if self.container_bitrate_kbps > 0:
            return float(self.container_bitrate_kbps), "container"
        if self.file_size_bytes > 0 and self.duration_s > 0:
            return self.file_size_bytes * 8 / self.duration_s / 1000.0, "file_size"
        return None, None

    @property
    def coded_size(self) -> tuple[int, int]:
        """(width, height) of the coded picture, before rotation."""
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height


def probe(uri: str, *, timeout_s: float = 30.0) -> VideoInfo:
    """Probes a local path or gs:// URI.

    Raises:
        UnsupportedUri, VideoNotFound, EmptyFile, Unreadable: stage "read".
        NotAVideo (unparseable data, a still image), NoVideoStream: stage "probe".
        DecodeTimeout: ffmpeg ran past ``timeout_s``.
    """
    with storage.local_copy(uri) as path:
        return probe_local(path, timeout_s=timeout_s, uri=uri)


def probe_local(path: str, *, timeout_s: float = 30.0, uri: str | None = None) -> VideoInfo:
    """``probe`` for a checked local path (see ``storage.local_copy``)."""
    uri = uri if uri is not None else path
    url = storage.ffmpeg_input(path)
    proc = ffmpeg_bin.run(["-hide_banner", "-protocol_whitelist", ffmpeg_bin.PROTOCOL_WHITELIST,
                           "-i", url], timeout_s=timeout_s)
    text = proc.stderr.decode("utf-8", "surrogateescape")
    # Drop the echoed file name: it may hold newlines and look like any field.
    text = text.replace(f"from '{url}':", "from '<input>':")
    info = parse_ffmpeg_header(text, uri=uri)
    if info.duration_s <= 0:
        info = dataclasses.replace(info, duration_s=video_stream_end(url, info, timeout_s)[0])
    try:
        info = dataclasses.replace(info, file_size_bytes=os.path.getsize(path))
    except OSError:
        pass
    return info


def parse_ffmpeg_header(text: str, *, uri: str = "") -> VideoInfo:
    """Parses the stderr of ``ffmpeg -i FILE`` (no output) into a VideoInfo.

    ``duration_s`` is 0.0 when the container states none ("Duration: N/A").
    """
    m_input = _INPUT_RE.search(text)
    if m_input is None:
        low = text.lower()
        if "permission denied" in low:
            raise errors.Unreadable(f"permission denied: {uri}", uri=uri)
        if "no such file or directory" in low:
            raise errors.VideoNotFound(f"no such file: {uri}", uri=uri)
        raise errors.NotAVideo(f"ffmpeg cannot read {uri!r} as media: "
                               f"{_last_line(text)}", uri=uri)
    fmt = m_input.group("fmt")
    if _IMAGE_FORMAT.match(fmt):
        raise errors.NotAVideo(f"{uri!r} is a still image ({fmt}), not a video", uri=uri)
    if fmt in _TEXT_FORMATS:
        raise errors.NotAVideo(f"{uri!r} is text ({fmt} demuxer), not a video", uri=uri)
    if fmt in _REFERENCE_FORMATS:
        raise errors.NotAVideo(f"{uri!r} is a playlist or reference file ({fmt}) that "
                               "refers to other files; only self-contained videos are read",
                               uri=uri)

    streams = list(_STREAM_RE.finditer(text))
    video = None
    for i, m in enumerate(streams):
        if m.group("kind") == "Video" and "(attached pic)" not in m.group("rest"):
            end = streams[i + 1].start() if i + 1 < len(streams) else len(text)
            video = (m, text[m.end():end])
            break
    if video is None:
        kinds = sorted({m.group("kind") for m in streams}) or ["none"]
        raise errors.NoVideoStream(f"{uri!r} has no video stream (streams: "
                                   f"{', '.join(kinds)})", uri=uri)
    m_stream, tail = video
    fields = _split_top_level(m_stream.group("rest"))
    codec = fields[0].split()[0] if fields and fields[0] else "unknown"

    pix_fmt, paren = "", ""
    if len(fields) > 1:
        m_pix = re.match(r"^(?P<pix>[\w]+)(?:\((?P<paren>.*)\))?$", fields[1])
        if m_pix:
            pix_fmt, paren = m_pix.group("pix"), m_pix.group("paren") or ""
    color = _parse_color(paren)

    width = height = 0
    fps = tbr = 0.0
    sar = 1.0
    stream_kbps = 0.0
    for f in fields[1:]:
        if (m := _SIZE_RE.match(f)) and not width:
            width, height = int(m.group("w")), int(m.group("h"))
            if (m_sar := _SAR_RE.search(f)) and int(m_sar.group(1)) and int(m_sar.group(2)):
                sar = int(m_sar.group(1)) / int(m_sar.group(2))
        elif m := _RATE_RE.match(f):
            v = float(m.group("v")) * (1000.0 if m.group("k") else 1.0)
            if m.group("unit") == "fps":
                fps = v
            else:
                tbr = v
        elif (m := _STREAM_BITRATE_RE.match(f)) and not stream_kbps:
            stream_kbps = float(m.group("v"))
    if not width or not height:
        raise errors.NotAVideo(f"{uri!r}: video stream without a frame size", uri=uri)

    rotation = 0
    if m_rot := _ROTATION_RE.search(tail.split("\n  Stream", 1)[0]):
        rotation = round(-float(m_rot.group("deg")) / 90.0) * 90 % 360
    if rotation in (90, 270):
        width, height = height, width

    duration_s, start_s = 0.0, 0.0
    if m_dur := _DURATION_RE.search(text):
        if m_dur.group("h") is not None:
            duration_s = (int(m_dur.group("h")) * 3600 + int(m_dur.group("m")) * 60
                          + float(m_dur.group("s")))
        if m_dur.group("start"):
            start_s = float(m_dur.group("start"))
    # Matroska/WebM state each stream's own length: prefer the video stream's.
    if m_sdur := _STREAM_DURATION_RE.search(tail.split("\n  Stream", 1)[0]):
        stream_s = (int(m_sdur.group("h")) * 3600 + int(m_sdur.group("m")) * 60
                    + float(m_sdur.group("s")))
        if stream_s > 0:
            duration_s = stream_s

    container_kbps = 0.0
    if m_rate := _CONTAINER_BITRATE_RE.search(text):
        container_kbps = float(m_rate.group("v"))

    return VideoInfo(
        width=width, height=height, duration_s=duration_s, fps=fps or tbr, codec=codec,
        pix_fmt=pix_fmt, bit_depth=ffmpeg_bin.pix_fmt_bit_depths().get(pix_fmt, 8),
        rotation=rotation, color_transfer=color["transfer"],
        color_primaries=color["primaries"], is_hdr=color["transfer"] in HDR_TRANSFERS,
        color_space=color["space"], color_range=color["range"],
        interlaced=color["field_order"] not in ("", "progressive"), start_s=start_s,
        stream_index=int(m_stream.group("index")), format_name=fmt, sample_aspect=sar,
        stream_bitrate_kbps=stream_kbps, container_bitrate_kbps=container_kbps)


def _parse_color(paren: str) -> dict:
    """``tv, bt2020nc/bt2020/smpte2084, progressive`` -> range, space, primaries, ..."""
    out = {"range": "", "space": "", "primaries": "", "transfer": "", "field_order": ""}
    for tok in (t.strip() for t in paren.split(", ")):
        if tok in ("tv", "pc"):
            out["range"] = tok
        elif tok in _FIELD_ORDERS:
            out["field_order"] = tok
        elif tok.count("/") == 2:
            space, prim, trc = tok.split("/")
            out.update(space=space, primaries=prim, transfer=trc)
        elif re.fullmatch(r"[\w\-]+", tok) and tok not in _CHROMA_LOCATIONS and not out["space"]:
            out.update(space=tok, primaries=tok, transfer=tok)  # all three share one name
    for key in ("space", "primaries", "transfer"):
        if out[key] == "unknown":
            out[key] = ""
    return out


def _split_top_level(s: str) -> list[str]:
    """Splits at ", " outside parentheses and brackets."""
    parts, depth, cur = [], 0, []
    i = 0
    while i < len(s):
        c = s[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth = max(0, depth - 1)
        if depth == 0 and s.startswith(", ", i):
            parts.append("".join(cur).strip())
            cur = []
            i += 2
            continue
        cur.append(c)
        i += 1
    parts.append("".join(cur).strip())
    return parts


def video_stream_end(url: str, info: VideoInfo, timeout_s: float) -> tuple[float, bool]:
    """(length in seconds of the video stream, whether its packets read cleanly).

    Reads the whole stream without decoding (``-c copy -f null``): used when the
    container states no duration, or states one longer than the video (audio longer than
    video, several video streams). Not clean: the demuxer reported damaged or missing
    data (a file cut mid-stream).
    """
    proc = ffmpeg_bin.run(["-hide_banner", "-nostats", "-loglevel", "error",
                           "-protocol_whitelist", ffmpeg_bin.PROTOCOL_WHITELIST, "-i", url,
                           "-map", f"0:{info.stream_index}", "-c", "copy", "-f", "null",
                           "-progress", "pipe:1", "-"], timeout_s=timeout_s)
    clean = proc.returncode == 0 and not proc.stderr.strip()
    progress = dict(re.findall(rb"^(\w+)=(.*)$", proc.stdout, re.MULTILINE))
    out_us = progress.get(b"out_time_us", b"N/A")
    if out_us.strip().lstrip(b"-").isdigit() and int(out_us) > 0:
        return int(out_us) / 1e6, clean
    # Raw elementary streams carry no timestamps: ffmpeg times them at the nominal rate.
    frames = progress.get(b"frame", b"0").strip()
    if frames.isdigit() and info.fps > 0:
        return int(frames) / info.fps, clean
    return 0.0, clean


def _last_line(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[-1][:300] if lines else ""
