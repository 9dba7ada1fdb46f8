"""Stage 2 of the bundled model: its decoder learns the pairwise answer, scores untouched.

    python -m trainer.train --config trainer/configs/cpllm_tiny_compare.py --workdir DIR \
        [--override model.preset=STAGE1_PRESET]

Stage 1 (`cpllm_tiny_patch.py`, exported to out/cpllm_tiny_patch) trains the score path and the description. Here the whole score
path is frozen (`train_modes.score_path="frozen"`: VideoPrism, both projections, the
low-level LayerNorm and the score head), so the exported preset scores every video
exactly as stage 1 does, bit for bit; only the decoder trains. Every pair of a batch is
also fed as video A + video B with "Score A: 71. Score B: 45. Video A is better." (the
two labels, rounded) as the answer, and the last 4 videos keep their descriptions so
that the decoder does not forget them. `CPLLM.compare` then answers from the text.
"""
from trainer.configs import cpllm_tiny


def get_config():
    c = cpllm_tiny.get_config()
    c.model.preset = "out/cpllm_tiny_patch"  # stage 1's export (cpllm_tiny_patch.py)
    c.model.reinitialize = False
    c.model.init_score_bias_to_label_mean = False  # the head must not move
    c.model.backbone_overrides = None    # already in stage 1's saved backbone config
    c.train_modes.score_path = "frozen"
    # No gradient reaches the frozen score path: its two losses would only cost time.
    c.loss.ranking_weight = 0.0
    c.loss.regression_weight = 0.0
    c.loss.compare_weight = 1.0
    c.loss.compare_pairs = 6             # every pair of a batch (input.pair_fraction)
    # 600 steps at 1e-3 left the decoder answering the same two scores for every pair
    # (docs/TRAINING.md); 2000 at 2e-3 read the videos.
    c.optimizer = type(c.optimizer)(learning_rate=2e-3, warmup_steps=50, clipnorm=1.0)
    c.num_steps = 2000
    c.checkpoint_every = 200
    c.eval_every = 0                     # the scores cannot change
    return c
