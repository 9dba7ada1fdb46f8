"""dtype and backend variants of the score path (the model uses keras.ops only)."""
import json
import os
import subprocess
import sys

import numpy as np

_TF_SCRIPT = """
import json, sys
import numpy as np
from cpllm_model import CPLLM
x = {k: np.asarray(v, dtype=d) for (k, v), d in zip(json.loads(sys.stdin.read()).items(),
     ("uint8", "uint8", "float32"))}
print(json.dumps(CPLLM.from_preset("cpllm_tiny").score(x)["score"].tolist()))
"""


def test_bfloat16_preset_load_casts_every_part(tiny_model, make_videos):
    """keras-hub sub-encoders keep their saved dtype unless told: from_preset(dtype=...)
    must reach SigLIP and VideoPrism too."""
    from cpllm_model import CPLLM

    bf16 = CPLLM.from_preset("cpllm_tiny", dtype="bfloat16")
    bb = bf16.backbone
    for layer in (bb.high_level_encoder, bb.low_level_encoder, bb.token_embedding,
                  bb.score_head.output_dense):
        assert {w.dtype for w in layer.weights if w.trainable} == {"bfloat16"}, layer.name
    videos = make_videos(2, seed=51)
    got = bf16.score(videos)
    assert got["score"].dtype == np.float32
    # bf16 keeps 8 mantissa bits: the trained tiny preset moves by ~1.2 on the 0-100 scale.
    np.testing.assert_allclose(got["score"], tiny_model.score(videos)["score"], atol=2.5)


def test_tensorflow_backend_gives_the_same_scores(tiny_model, make_videos):
    videos = make_videos(1, seed=52)
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    payload = json.dumps({k: v.tolist() for k, v in videos.items()})
    proc = subprocess.run([sys.executable, "-c", _TF_SCRIPT], input=payload, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    tf_scores = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(tf_scores, tiny_model.score(videos)["score"], rtol=1e-5)
