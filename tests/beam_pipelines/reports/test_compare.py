"""beam_pipelines.compare: the CLI on two real tiny clips of different CRF."""
import re

import numpy as np
import pytest

from beam_pipelines import compare
from beam_pipelines.media import keyframes, samples, transcode


@pytest.fixture(scope="session")
def two_crfs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    master = samples.make_clip(str(root / "m.mkv"), "astronaut", seconds=1.0, size=(96, 72),
                               fps=12)
    a, b = str(root / "crf18.mp4"), str(root / "crf51.mp4")
    transcode.transcode(master, a, 18, preset="ultrafast")
    transcode.transcode(master, b, 51, preset="ultrafast")
    return a, b


def test_compare_cli_prints_answer_and_both_scores(two_crfs, capsys):
    a, b = two_crfs
    assert compare.main([a, b, "--model", "cpllm_tiny"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"^A  (.+)  score (-?[\d.]+)\nB  (.+)  score (-?[\d.]+)\nbetter: ([AB])  \((.+)\)$",
                  out, re.MULTILINE)
    assert m, out
    assert (m.group(1), m.group(3)) == (a, b)
    score_a, score_b, better = float(m.group(2)), float(m.group(4)), m.group(5)

    # The printed scores are the model's: recompute them from the same decoded frames.
    model = compare.load_model("cpllm_tiny")
    inputs = [model.preprocessor.frame_inputs(
        keyframes.decode_keyframes(u, k=model.num_keyframes,
                                   **model.preprocessor.decode_options()).frames)
        for u in (a, b)]
    result = model.compare(*inputs)
    assert better == result["better"]
    assert (score_a, score_b) == pytest.approx((result["score_a"], result["score_b"]),
                                               abs=0.006)
    if result["source"] == "score_head":
        assert "from the score head" in m.group(6)
        head = [float(model.score({k: np.asarray(v)[None] for k, v in x.items()})["score"][0])
                for x in inputs]
        assert (result["score_a"], result["score_b"]) == pytest.approx(head, abs=1e-4)
        assert better == ("A" if head[0] >= head[1] else "B")


def test_compare_cli_unreadable_video_exits_2(two_crfs, tmp_path, capsys):
    assert compare.main([two_crfs[0], str(tmp_path / "missing.mp4")]) == 2
    assert "cannot read video" in capsys.readouterr().err


def test_compare_cli_num_keyframes_sets_k(two_crfs, capsys):
    """--num_keyframes 4: both videos are read with 4 key frames (a pair's context at the
    paper sizes), and the printed scores are the model's on those 4 frames."""
    import json

    a, b = two_crfs
    assert compare.main([a, b, "--num_keyframes", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    model = compare.load_model("cpllm_tiny")
    pre = model.preprocessor
    inputs = []
    for uri in (a, b):
        frames = keyframes.decode_keyframes(uri, k=4, **pre.decode_options()).frames
        assert frames.shape[0] == 4 * pre.frames_per_key
        inputs.append(pre.frame_inputs(frames, num_keyframes=4))
        assert inputs[-1]["low_patches"].shape[:2] == (4, pre.max_patches)
    # The CLI's answer is the model's on those 4 key frames (greedy: deterministic).
    expected = model.compare(*inputs)
    assert (result["better"], result["text"], result["source"]) == (
        expected["better"], expected["text"], expected["source"])
    assert (result["score_a"], result["score_b"]) == pytest.approx(
        (expected["score_a"], expected["score_b"]), abs=1e-6)
    with pytest.raises(SystemExit) as e:
        compare.main([a, b, "--num_keyframes", "0"])
    assert e.value.code == 2
