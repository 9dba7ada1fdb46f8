"""Issue 7: the whole bad-input corpus through the real scoring pipeline (one run).

The corpus and the run are session fixtures (conftest.py). Every catalog line must end
in exactly one table: scored with a finite score and real key frames, or in failures
with the expected stage/error_type and a message a person can read. A catalog that is
not a table at all stops the launch instead; that is tested in tests/beam_pipelines/scoring/
(test_catalog.py::test_catalog_that_is_not_a_table_fails_clearly,
test_score.py::test_cli_rejects_a_catalog_that_is_not_a_table).
"""
import collections
import math
import multiprocessing
import os
import shutil
import tempfile

import numpy as np
import pytest
from reliability_helpers import SCORED, VFR_PTS, K

from beam_pipelines import catalog, dead_letter, score
from beam_pipelines.media import errors, keyframes

# Videos with fewer distinct frames than K: their key frames repeat (by design).
DISTINCT_FRAMES = {"single_frame": 1, "shorter_than_k": 3, "8k_7680x4320": 2}
SAME_CONTENT_AS_GOOD = ("extra_columns", "name_spaces", "name_quotes", "name_shell",
                        "name_leading_dash", "name_newline")


def _expected(corpus):
    """(scored video_ids, Counter of failure keys) the corpus must produce."""
    scored, failed = set(), collections.Counter()
    for row, outcome in corpus["cases"].values():
        if outcome == SCORED:
            scored.add(row["video_id"])
            continue
        vid = (row.get("video_id") or None) if isinstance(row, dict) else None
        failed[(vid, *outcome)] += 1
    return scored, failed


def _by_id(rows):
    return {r["video_id"]: r for r in rows}


def test_scored_plus_failed_equals_catalog_rows(corpus, corpus_run):
    scores, failures = corpus_run["scores"], corpus_run["failures"]
    assert len(scores) + len(failures) == len(corpus["cases"])
    assert len(_by_id(scores)) == len(scores)  # no video scored twice
    assert corpus_run["summary"]["scored"] == len(scores)
    assert corpus_run["summary"]["failed"] == len(failures)


def test_every_case_has_its_expected_outcome(corpus, corpus_run):
    want_scored, want_failed = _expected(corpus)
    got_failed = collections.Counter(
        (f["video_id"], f["stage"], f["error_type"]) for f in corpus_run["failures"])
    assert {r["video_id"] for r in corpus_run["scores"]} == want_scored
    assert got_failed == want_failed


def test_failure_messages_are_for_people(corpus_run):
    for f in corpus_run["failures"]:
        msg = f["message"]
        assert msg.strip() and msg != f["error_type"], f
        assert "Traceback" not in msg and 'File "' not in msg, f
        assert len(msg) < 600 and "\n" not in msg, f
        assert f["attempts"] == 1, f  # media errors are not retried
    by_id = {f["video_id"]: f["message"] for f in corpus_run["failures"] if f["video_id"]}
    # A few spelled out: the reason in words, naming the input.
    assert "zero-byte" in by_id["zero_byte"] and "zero.mp4" in by_id["zero_byte"]
    assert "no video stream" in by_id["audio_only"]
    assert "still image" in by_id["image_png"]
    assert "truncated" in by_id["cut_mid_stream"]
    assert "no such object" in by_id["gs_missing_object"]
    assert "already appears in catalog row" in by_id["good"]  # the duplicate
    assert "not valid Unicode" in by_id["name_not_utf8"]
    assert "not a regular file" in by_id["fifo_never_written"]


def test_scores_are_finite_and_frame_times_within_the_duration(corpus_run):
    for r in corpus_run["scores"]:
        assert math.isfinite(r["score"]) and 0 < r["duration_s"] < 10, r["video_id"]
        assert len(r["frame_scores"]) == K and all(map(math.isfinite, r["frame_scores"]))
        times = r["frame_times_s"]
        assert len(times) == K and times == sorted(times), r["video_id"]
        assert 0 <= times[0] and times[-1] <= r["duration_s"], r["video_id"]


def test_key_frames_are_real_pixels_not_padding(corpus, corpus_run):
    """Decodes every scored video again at the stored times: real, varied pixels."""
    max_side = score.model_preprocessing("cpllm_tiny")[2]
    for r in corpus_run["scores"]:
        uri = catalog.resolve_uri(corpus["cases"][r["video_id"]][0]["uri"], corpus["catalog"])
        kf = keyframes.decode_keyframes(uri, K, max_side=max_side)
        np.testing.assert_array_equal(kf.times_s, r["frame_times_s"], err_msg=r["video_id"])
        step = max(1, kf.frames.shape[1] // 256)  # the 8K case: statistics on a grid
        frames = kf.frames[:, ::step, ::step].reshape(K, -1, 3).astype(np.float32)
        # testsrc2 everywhere: colourful, never black, never one flat colour.
        assert (frames.mean(axis=(1, 2)) > 20).all(), r["video_id"]
        assert (frames.std(axis=1).mean(axis=1) > 10).all(), r["video_id"]
        # Repeats only where the video has fewer frames than K: distinct source frames
        # (timestamps) and distinct pixels (every frame of these clips differs).
        want = DISTINCT_FRAMES.get(r["video_id"], K)
        if r["video_id"] == "vfr":  # targets in the gap share the frame after it
            seeks = keyframes.seek_points(kf.times_s, kf.info.fps)
            want = len({min(p for p in VFR_PTS if p >= s - 2e-3) for s in seeks})
            np.testing.assert_allclose(kf.frame_times_s, [
                min(p for p in VFR_PTS if p >= s - 2e-3) for s in seeks], atol=2e-3)
        assert len(set(kf.frame_times_s.tolist())) == want, r["video_id"]
        assert len({f.tobytes() for f in kf.frames}) == want, r["video_id"]


def test_geometry_and_colour_metadata(corpus_run):
    rows = _by_id(corpus_run["scores"])
    assert (rows["good"]["width"], rows["good"]["height"]) == (64, 48)
    for ccw in (90, 270):
        assert (rows[f"rotated_{ccw}"]["width"], rows[f"rotated_{ccw}"]["height"]) == (48, 64)
    assert (rows["rotated_180"]["width"], rows["rotated_180"]["height"]) == (64, 48)
    assert (rows["8k_7680x4320"]["width"], rows["8k_7680x4320"]["height"]) == (7680, 4320)
    assert (rows["odd_33x17"]["width"], rows["odd_33x17"]["height"]) == (33, 17)
    assert (rows["tiny_16x16"]["width"], rows["tiny_16x16"]["height"]) == (16, 16)
    assert {rows[c]["codec"] for c in ("hevc_10bit", "hdr10_pq", "hdr_hlg")} == {"hevc"}


def test_names_and_extra_columns_do_not_change_the_score(corpus_run):
    """Copies of one file under hostile names score bit-identically to the original."""
    rows = _by_id(corpus_run["scores"])
    for case in SAME_CONTENT_AS_GOOD:
        assert rows[case]["score"] == rows["good"]["score"], case
        assert rows[case]["frame_scores"] == rows["good"]["frame_scores"], case


def test_hostile_names_are_not_interpreted(corpus, corpus_run):
    rows = _by_id(corpus_run["scores"])
    for case, name in corpus["hostile_names"].items():
        assert rows[case]["uri"] == os.path.join(corpus["root"], name), case
    for d in (corpus["root"], os.path.join(corpus["root"], "media"), os.getcwd(),
              tempfile.gettempdir()):
        assert not {"pwned", "pwned2"} & set(os.listdir(d)), d


def test_nothing_written_outside_the_output_dir(corpus_run):
    changed = {p for p in set(corpus_run["before"]) | set(corpus_run["after"])
               if corpus_run["before"].get(p) != corpus_run["after"].get(p)}
    # jax_cache*: the test session's XLA compilation cache (tests/conftest.py), which
    # the run fills with whatever it compiles first.
    outside = {p for p in changed if not p.startswith((b"reliability_out", b"reliability_tmp",
                                                       b"jax_cache"))}
    assert outside == set()
    assert corpus_run["tmp_left"] == []  # OS temp files (gs:// copies) cleaned up
    assert all(f.endswith(".parquet") and f.split("-")[0] in score.TABLE_NAMES
               for f in os.listdir(corpus_run["out"]))


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # the child only reads a file
def test_unreadable_file_as_an_ordinary_user(corpus):
    """chmod 000: the pipeline runs as root here, and root reads any file, so in the run
    above the file scores. An ordinary user (a forked child that drops to `nobody`) gets
    a `read` / `Unreadable` failure row from the pipeline's own DoFn."""
    if os.geteuid() != 0:
        pytest.skip("not root: the corpus run itself shows the unreadable file failing")
    d = tempfile.mkdtemp(prefix="cpllm_locked_", dir="/tmp")  # traversable by nobody
    try:
        os.chmod(d, 0o755)
        path = os.path.join(d, "locked.mp4")
        shutil.copyfile(corpus["cases"]["good"][0]["uri"], path)
        os.chmod(path, 0)
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_decode_as_nobody, args=(child, path))
        proc.start()
        row = parent.recv() if parent.poll(120) else None
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    finally:
        shutil.rmtree(d)
    assert row is not None
    assert (row["stage"], row["error_type"]) == ("read", "Unreadable"), row
    assert "Permission denied" in row["message"] and path in row["message"]


def _decode_as_nobody(conn, path):
    import apache_beam as beam

    from beam_pipelines import dofns

    try:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        fn = dofns.DecodeKeyframes(dofns.FrameInputs("cpllm_tiny"), K, max_attempts=1)
        (out,) = list(fn.process({"video_id": "locked", "uri": path}))
        assert isinstance(out, beam.pvalue.TaggedOutput) and out.tag == dead_letter.FAILURES
        conn.send(out.value)
    except Exception as e:  # noqa: BLE001 (report anything; never hang the parent)
        conn.send({"stage": "?", "error_type": type(e).__name__, "message": str(e)})
    finally:
        conn.close()
        os._exit(0)


def test_media_errors_are_typed(corpus_run):
    """Every non-catalog failure is one of media.errors' types, with its own stage."""
    types = {c.__name__: c for c in vars(errors).values()
             if isinstance(c, type) and issubclass(c, errors.MediaError)}
    for f in corpus_run["failures"]:
        if f["stage"] == "catalog":
            continue
        assert f["error_type"] in types, f
