"""The issue-7 bad-input corpus and ONE real scoring run over it (session fixtures).

Every file is made here with the project's ffmpeg (media.ffmpeg_bin) and Python, tiny
(64x48, about 1 s) except where size is the point (one 7680x4320 clip of 2 frames). The
catalog is JSONL: the one catalog format that can name a file whose name is not UTF-8
(JSON "\\udcXX" escapes, i.e. Python's surrogateescape, as `json.dumps(os.fsdecode(p))`
writes them); CSV and Parquet must be UTF-8 text.

`corpus` maps a case name to (catalog line, expected outcome); an outcome is SCORED or
(stage, error_type). `corpus_run` runs `beam_pipelines.score.run` once (DirectRunner ->
FnApiRunner, in_memory, the bundled pack's primary path) with a gs:// emulator up, a
loopback HTTP listener that must never see a connection, OS temp redirected to an empty
directory, and snapshots of the test's directory tree before and after.
"""
import json
import os
import shutil
import socket

import pytest
from gcs_emulator import gcs_emulator
from reliability_helpers import BUCKET, SCORED, VFR_SETPTS, ffmpeg, tree

from beam_pipelines import tables

SIZE = "64x48"


def testsrc(dst, *, size=SIZE, rate=10, seconds=1.0, pre=(), codec=("-c:v", "libx264",
            "-preset", "ultrafast", "-threads", "1", "-pix_fmt", "yuv420p"), post=()):
    """A testsrc2 clip (moving, colourful: never constant, never black)."""
    ffmpeg(*pre, "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}",
           *codec, *post, f"file:{dst}")
    return str(dst)


def _x265(dst, params):
    return testsrc(dst, codec=("-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params",
                               "log-level=error:pools=1:frame-threads=1:lossless=1" + params))


@pytest.fixture(scope="session")
def listener():
    """A loopback TCP listener: any connection to it means something was fetched."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        yield server


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, listener):
    """{case: (catalog line: dict | str, SCORED | (stage, error_type))} and the files."""
    root = tmp_path_factory.mktemp("corpus")
    d = root / "media"
    d.mkdir()
    port = listener.getsockname()[1]
    cases = {}

    def add(name, uri, expected, **extra):
        cases[name] = ({"video_id": name, "uri": uri, **extra}, expected)

    good = testsrc(d / "good.mp4")
    add("good", good, SCORED, source_id="testsrc2", crf=0)

    # Files that are not (complete) videos.
    (d / "zero.mp4").write_bytes(b"")
    add("zero_byte", str(d / "zero.mp4"), ("read", "EmptyFile"))
    (d / "random.mp4").write_bytes(os.urandom(8192))
    add("random_bytes", str(d / "random.mp4"), ("probe", "NotAVideo"))
    plain = testsrc(d / "plain.mp4", seconds=4)  # moov at the end
    data = (d / "plain.mp4").read_bytes()
    assert data.find(b"moov") > len(data) // 2
    (d / "no_moov.mp4").write_bytes(data[: len(data) // 2])
    add("truncated_no_moov", str(d / "no_moov.mp4"), ("probe", "NotAVideo"))
    fast = testsrc(d / "fast.mp4", seconds=4, post=("-movflags", "+faststart"))
    with open(fast, "rb") as f:
        data = f.read()
    (d / "cut.mp4").write_bytes(data[: int(len(data) * 0.4)])  # index says 4 s, data 1.6 s
    add("cut_mid_stream", str(d / "cut.mp4"), ("decode", "DecodeError"))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac",
           f"file:{d / 'audio.m4a'}")
    add("audio_only", str(d / "audio.m4a"), ("probe", "NoVideoStream"))
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={SIZE}", "-frames:v", "1",
           f"file:{d / 'still.png'}")
    add("image_png", str(d / "still.png"), ("probe", "NotAVideo"))
    add("missing_path", str(d / "does_not_exist.mp4"), ("read", "VideoNotFound"))
    # Inputs that never end: a named pipe nobody writes, an endless device. Refused
    # before anything opens them (not regular files), so they cannot hang a worker.
    os.mkfifo(d / "fifo.mp4")
    add("fifo_never_written", str(d / "fifo.mp4"), ("read", "Unreadable"))
    add("dev_zero", "/dev/zero", ("read", "Unreadable"))
    os.remove(plain)

    # Unusual but valid videos: all must score.
    add("single_frame", testsrc(d / "one.mp4", post=("-frames:v", "1")), SCORED)
    add("shorter_than_k", testsrc(d / "three.mp4", seconds=0.3), SCORED)  # 3 frames < K
    # testsrc2's moving parts vanish at 16x16: temporal noise makes every frame differ.
    add("tiny_16x16", testsrc(d / "tiny.mp4", size="16x16", post=(
        "-vf", "noise=alls=30:allf=t+u")), SCORED)
    add("odd_33x17", testsrc(d / "odd.mp4", codec=(  # testsrc2 itself rounds odd sizes
        "-vf", "scale=33:17,setsar=1", "-c:v", "libx264", "-preset", "ultrafast",
        "-threads", "1", "-pix_fmt", "yuv444p")), SCORED)
    add("8k_7680x4320", testsrc(d / "8k.mp4", size="7680x4320", rate=2, seconds=1), SCORED)
    for ccw in (90, 180, 270):
        add(f"rotated_{ccw}", str(d / f"rot{ccw}.mp4"), SCORED)
        ffmpeg("-display_rotation", ccw, "-i", good, "-c", "copy", f"file:{d / f'rot{ccw}.mp4'}")
    add("hevc_10bit", _x265(d / "hevc10.mp4", ""), SCORED)
    add("hdr10_pq", _x265(d / "pq.mp4", ":colorprim=bt2020:transfer=smpte2084:"
                          "colormatrix=bt2020nc:hdr10=1:max-cll=1000,400"), SCORED)
    add("hdr_hlg", _x265(d / "hlg.mp4", ":colorprim=bt2020:transfer=arib-std-b67:"
                         "colormatrix=bt2020nc"), SCORED)
    add("vfr", testsrc(d / "vfr.mkv", rate=10, seconds=2, post=(
        "-vf", "settb=1/1000," + VFR_SETPTS, "-fps_mode", "vfr", "-enc_time_base", "1:1000")),
        SCORED)
    add("interlaced", testsrc(d / "interlaced.mp4", rate=25, codec=(
        "-c:v", "libx264", "-preset", "ultrafast", "-threads", "1", "-pix_fmt", "yuv420p",
        "-flags", "+ilme+ildct", "-x264-params", "tff=1", "-field_order", "tt")), SCORED)
    locked = d / "locked.mp4"
    shutil.copyfile(good, locked)
    os.chmod(locked, 0)
    # Root reads any file whatever its mode bits, so there it scores (see test_corpus).
    add("unreadable_chmod_000", str(locked),
        SCORED if os.access(locked, os.R_OK) else ("read", "Unreadable"))
    add("gs_missing_object", f"gs://{BUCKET}/videos/gone.mp4", ("read", "VideoNotFound"))

    # Hostile file names, as relative uris (resolved against the catalog's directory).
    names = {"name_spaces": "with  spaces.mp4", "name_quotes": "quote's \"double\".mp4",
             "name_shell": "$(touch pwned);`touch pwned2`.mp4",
             "name_leading_dash": "-i evil.mp4", "name_newline": "new\nline.mp4"}
    for case, name in names.items():
        shutil.copyfile(good, root / name)
        add(case, name, SCORED)
    # Non-UTF-8 bytes: only JSON can name the file ("\udce9" escapes); no table can hold
    # the name, so the row is refused (decoding such names: tests/beam_pipelines/media/test_inputs.py).
    latin1 = b"latin1-\xe9\xff.mp4"
    shutil.copyfile(good, os.path.join(os.fsencode(str(root)), latin1))
    add("name_not_utf8", os.fsdecode(latin1), ("catalog", "MalformedRow"))

    # Catalog rows.
    cases["duplicate_id"] = ({"video_id": "good", "uri": str(d / "zero.mp4")},
                             ("catalog", "DuplicateVideoId"))
    cases["empty_id"] = ({"video_id": "", "uri": good}, ("catalog", "MalformedRow"))
    cases["extra_columns"] = ({"video_id": "extra_columns", "uri": good, "owner": "x",
                               "Bitrate": 1}, SCORED)
    cases["missing_uri_column"] = ({"video_id": "missing_uri_column"},
                                   ("catalog", "MalformedRow"))
    cases["missing_id_column"] = ({"uri": good}, ("catalog", "MalformedRow"))
    cases["not_json"] = ('{"video_id": "not_json", "uri": ', ("catalog", "MalformedRow"))
    cases["json_array"] = ('["json_array", "x.mp4"]', ("catalog", "MalformedRow"))

    # URIs that must never make ffmpeg read or fetch anything else (issue 7 whitelist).
    shutil.copyfile(good, root / "a.mp4")
    shutil.copyfile(good, root / "b.mp4")
    segment = testsrc(d / "segment.ts", codec=("-c:v", "libx264", "-preset", "ultrafast",
                                               "-threads", "1", "-f", "mpegts"))
    (d / "local.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n"
                                  f"{segment}\n#EXT-X-ENDLIST\n")
    (d / "loopback.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n"
                                     f"http://127.0.0.1:{port}/seg.ts\n#EXT-X-ENDLIST\n")
    (d / "ffconcat.mp4").write_text("ffconcat version 1.0\nfile good.mp4\n")
    (d / "manifest.mpd").write_text(
        '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT1S" minBufferTime="PT1S" '
        'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet '
        'mimeType="video/mp4"><Representation id="1" bandwidth="1000" width="64" '
        'height="48" codecs="avc1"><BaseURL>good.mp4</BaseURL></Representation>'
        "</AdaptationSet></Period></MPD>\n")
    protocols = {
        "uri_concat": ("concat:a.mp4|b.mp4", ("read", "UnsupportedUri")),
        "uri_http_loopback": (f"http://127.0.0.1:{port}/x.mp4", ("read", "UnsupportedUri")),
        "uri_http_port_1": ("http://127.0.0.1:1/x.mp4", ("read", "UnsupportedUri")),
        "uri_file_etc_passwd": ("file:/etc/passwd", ("probe", "NotAVideo")),
        # No valid scheme before the ":" (commas): a relative file name, which does not exist.
        "uri_subfile": ("subfile,,start,0,end,0,,:/etc/hosts", ("read", "VideoNotFound")),
        "m3u8_local_segment": (str(d / "local.m3u8"), ("probe", "NotAVideo")),
        "m3u8_loopback_segment": (str(d / "loopback.m3u8"), ("probe", "NotAVideo")),
        "ffconcat_named_mp4": (str(d / "ffconcat.mp4"), ("probe", "NotAVideo")),
        "dash_manifest": (str(d / "manifest.mpd"), ("probe", "NotAVideo")),
    }
    for case, (uri, expected) in protocols.items():
        add(case, uri, expected)

    lines = [row if isinstance(row, str) else json.dumps(row) for row, _ in cases.values()]
    catalog = root / "catalog.jsonl"
    catalog.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"root": str(root), "catalog": str(catalog), "cases": cases, "port": port,
            "protocol_cases": sorted(protocols), "hostile_names": names}


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory, corpus, listener, plumbing_preset):
    """One real pipeline run over the corpus; the tables and what changed on disk."""
    from beam_pipelines import score

    base = tmp_path_factory.getbasetemp()
    out = base / "reliability_out"
    tmp = base / "reliability_tmp"
    tmp.mkdir()
    with gcs_emulator(buckets=(BUCKET,)):
        before = tree(base)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TMPDIR", str(tmp))
            mp.setattr("tempfile.tempdir", str(tmp))
            summary = score.run(["--catalog", corpus["catalog"], "--output_dir", str(out),
                                 "--decode_timeout_s", "60", "--model", plumbing_preset])
        after = tree(base)
    try:
        conn, _ = listener.accept()
        conn.close()
        connected = True
    except BlockingIOError:
        connected = False
    return {
        "summary": summary, "out": str(out),
        "scores": tables.read_table(str(out), "scores"),
        "failures": tables.read_table(str(out), "failures"),
        "before": before, "after": after, "tmp_left": os.listdir(tmp),
        "connected": connected,
    }
