"""The numbers the CP-LLM paper reports (sec. 4.2 and 4.3), as far as its text survives.

Copied from the paper's tables (docs/EVALUATION.md "The paper's numbers" shows the same
tables and `tests/trainer/test_paper_tables.py` checks the two agree). `None` is a value the
paper text lost; nothing here is estimated or filled in.

- TABLE1: YT-Compress, SRCC / PLCC against MOS and against DMOS, and the flip rate (FR) on
  pairs of its compression variants.
- TABLE2: cross-dataset SRCC / PLCC against MOS.
- TABLE3: flip rate by CRF difference on the compression variants of LSVQ-test-1080p. The
  six CRF differences of its columns (`Diff=`) are lost: `TABLE3_DIFFS` is all None and the
  rates are kept in the paper's column order.
- ABLATION_*: SRCC / PLCC and FR on LSVQ-test and LSVQ-1080p of the input-mode and
  high-level-encoder ablations; the final configuration (mix input, frozen high-level
  encoder) is `LSVQ_FINAL`.
Pairs are (SRCC, PLCC). Whether PLCC was taken after a logistic fit is not in the text.
"""
from __future__ import annotations

MODEL = "CP-LLM"  # "CP-LLM (ours)" in the paper

# Table 1, YT-Compress: model -> (MOS (SRCC, PLCC), DMOS (SRCC, PLCC), FR)
TABLE1 = {
    "FastVQA": ((0.759, 0.768), (0.272, 0.380), 0.220),
    "DOVER": ((0.783, 0.798), (0.399, 0.516), 0.170),
    "Q-Align": ((0.795, 0.799), (0.507, 0.581), 0.118),
    MODEL: ((0.801, 0.800), (0.540, 0.605), 0.085),
}

# Table 2: trainer.datasets name -> the paper's column title
TABLE2_DATASETS = {
    "youtube_ugc": "YouTube-UGC",
    "live_yt_gaming": "LIVE-YT-Gaming",
    "shorts_sdr": "Shorts-SDR",
    "shorts_hdr2sdr": "Shorts-HDR2SDR",
}
# model -> dataset -> (SRCC, PLCC)
TABLE2 = {
    "FastVQA": {"youtube_ugc": (0.730, 0.747), "live_yt_gaming": (0.619, 0.666),
                "shorts_sdr": (0.791, 0.800), "shorts_hdr2sdr": (0.530, 0.652)},
    "DOVER": {"youtube_ugc": (0.777, 0.792), "live_yt_gaming": (0.668, 0.726),
              "shorts_sdr": (0.768, 0.799), "shorts_hdr2sdr": (0.512, 0.614)},
    "MBVQA": {"youtube_ugc": (0.788, 0.804), "live_yt_gaming": (0.600, 0.696),
              "shorts_sdr": (0.753, 0.802), "shorts_hdr2sdr": (0.559, 0.686)},
    "Q-Align": {"youtube_ugc": (0.833, 0.846), "live_yt_gaming": (0.611, 0.687),
                "shorts_sdr": (0.746, 0.779), "shorts_hdr2sdr": (0.585, 0.672)},
    MODEL: {"youtube_ugc": (0.810, 0.813), "live_yt_gaming": (0.620, 0.702),
            "shorts_sdr": (0.759, 0.804), "shorts_hdr2sdr": (0.586, 0.708)},
}

# Table 3, LSVQ-test-1080p compression variants: model -> ("Answer" | "Score", 6 rates)
TABLE3_DIFFS = (None, None, None, None, None, None)  # the CRF differences: lost
TABLE3 = {
    "Gemini 2.0": ("Answer", (0.502, 0.434, 0.385, 0.348, 0.319, 0.181)),
    "CoINVQ": ("Score", (0.167, 0.142, 0.123, 0.108, 0.086, 0.006)),
    "FastVQA": ("Score", (0.256, 0.205, 0.169, 0.150, 0.111, 0.024)),
    "DOVER": ("Score", (0.268, 0.218, 0.179, 0.156, 0.126, 0.026)),
    "Q-Align": ("Score", (0.162, 0.142, 0.122, 0.105, 0.082, 0.008)),
    MODEL: ("Score", (0.125, 0.069, 0.048, 0.033, 0.021, 0.002)),
}

# Ablations (sec. 4.3) on LSVQ: the LSVQ label split -> the paper's column title
LSVQ_SPLITS = {"test": "LSVQ-test", "test_1080p": "LSVQ-1080p"}
# variant -> split -> (SRCC, PLCC); variant -> split -> FR
ABLATION_INPUT = {
    "Single": {"test": (0.748, 0.751), "test_1080p": (0.620, 0.674)},
    "Pairwise": {"test": (0.667, 0.684), "test_1080p": (0.523, 0.599)},
    "Mix": {"test": (0.851, 0.850), "test_1080p": (0.747, 0.796)},
}
ABLATION_INPUT_FR = {
    "Single": {"test": 0.217, "test_1080p": 0.259},
    "Pairwise": {"test": 0.055, "test_1080p": 0.063},
    "Mix": {"test": 0.072, "test_1080p": 0.082},
}
ABLATION_HIGH_LEVEL = {
    "Frozen": {"test": (0.851, 0.850), "test_1080p": (0.747, 0.796)},
    "Head": {"test": (0.800, 0.802), "test_1080p": (0.654, 0.718)},
    "All": {"test": (0.831, 0.832), "test_1080p": (0.705, 0.750)},
}
ABLATION_HIGH_LEVEL_FR = {
    "Frozen": {"test": 0.072, "test_1080p": 0.082},
    "Head": {"test": 0.103, "test_1080p": 0.122},
    "All": {"test": 0.055, "test_1080p": 0.054},
}
# The configuration CP-LLM ships with (and trainer/configs/cpllm_paper.py trains): mix
# input, frozen high-level encoder; both ablation tables report it alike.
LSVQ_FINAL = ABLATION_INPUT["Mix"]
LSVQ_FINAL_FR = ABLATION_INPUT_FR["Mix"]
