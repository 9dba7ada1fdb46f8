"""Issue 7, protocol whitelist, seen through the pipeline (the corpus run of conftest.py).

Catalog uris that would make ffmpeg read or fetch something other than the one local
file or gs:// object they name must fail at `read` (refused scheme, before ffmpeg runs)
or `probe` (ffmpeg's protocol whitelist `file,pipe`, and playlists / reference files
refused by demuxer), and nothing may be fetched: a loopback listener that two of the
uris point at must never see a connection. The media-level view (ffmpeg never started
for a refused scheme) is tests/beam_pipelines/media/test_inputs.py.
"""


def _failures_by_id(corpus_run):
    return {f["video_id"]: f for f in corpus_run["failures"] if f["video_id"]}


def test_refused_uris_fail_at_read_or_probe(corpus, corpus_run):
    failures = _failures_by_id(corpus_run)
    scored = {r["video_id"] for r in corpus_run["scores"]}
    for case in corpus["protocol_cases"]:
        assert case not in scored, case
        stage, error_type = corpus["cases"][case][1]
        f = failures[case]
        assert (f["stage"], f["error_type"]) == (stage, error_type), f
        assert f["stage"] in ("read", "probe") and f["attempts"] == 1, f


def test_refused_schemes_say_so(corpus_run):
    failures = _failures_by_id(corpus_run)
    for case in ("uri_concat", "uri_http_loopback", "uri_http_port_1"):
        assert "unsupported URI scheme" in failures[case]["message"], failures[case]


def test_playlists_and_reference_files_are_not_followed(corpus_run):
    failures = _failures_by_id(corpus_run)
    for case, fmt in (("m3u8_local_segment", "hls"), ("ffconcat_named_mp4", "concat"),
                      ("dash_manifest", "dash")):
        assert f"({fmt})" in failures[case]["message"], failures[case]
        assert "refers to other files" in failures[case]["message"], failures[case]


def test_nothing_was_fetched(corpus_run):
    assert corpus_run["connected"] is False
