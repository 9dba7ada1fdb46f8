"""Generates the description corpus and trains the tiny preset's SentencePiece model.

The corpus covers what CP-LLM's answers talk about: the prompts of `prompts`, the
measured three-sentence descriptions of `beam_pipelines.describer.MeasuredDescriber`
(content from brightness / colour / detail / motion, style, technical quality with
artifact strengths and the quality level), numbers 0-100 and the pairwise answers.
No object or picture names: the tiny model cannot see them.

Usage (deterministic; writes `cpllm_model/assets/tokenizer/vocabulary.spm`):
    python -m cpllm_model.tokenizer_corpus [--out_dir DIR] [--vocab_size 1024]
"""
import io
import itertools
import os
import random

from absl import app, flags

from cpllm_model import prompts

ASSET_DIR = os.path.join(os.path.dirname(__file__), "assets", "tokenizer")
VOCAB_FILE = "vocabulary.spm"

# The describer's fixed vocabulary, duplicated from `beam_pipelines.describer` (this
# package must not import beam_pipelines); tests/beam_pipelines/data/test_describer.py checks the two
# agree. Keep both in sync when wording changes, then retrain the vocabulary.
BRIGHTNESS = ["bright", "well-lit", "dim", "dark"]
COLOUR = ["very colourful", "colourful", "muted", "nearly monochrome"]
DETAIL = ["fine texture", "rich detail", "moderate detail", "smooth surfaces"]
MOTION = ["fast motion", "moderate motion", "slow motion", "no motion"]
STYLE = ["natural-looking content", "graphics with flat regions and sharp edges",
         "smooth gradients", "a nearly uniform picture"]
ARTIFACTS = ["visible blocking", "strong blocking", "visible blurring", "strong blurring"]
LEVELS = ["excellent", "good", "fair", "poor", "bad"]
ARTIFACT_FREE = "no visible compression artifacts"
DETAIL_LOSS = "loss of fine detail"

# General technical-quality wording (not written by the describer): catalog descriptions
# of real datasets and free-form answers talk like this; it also fills the vocabulary.
GENERAL_ARTIFACTS = [
    "blocking artifacts", "blurring", "ringing around edges", "banding in smooth areas",
    "mosquito noise", "loss of fine texture", "smeared details", "visible macroblocks",
    "color bleeding", "staircase edges", "film grain", "sensor noise", "judder",
    "dropped frames", "flicker", "aliasing", "over-exposure", "under-exposure",
]
GENERAL_GOOD = ["sharp", "clean", "crisp", "detailed", "free of visible artifacts"]


def content_sentences():
    """Every content sentence the describer writes (all measured, and the fallbacks)."""
    yield "The content was not measured."
    for adjectives in ([], *([b] for b in BRIGHTNESS), *([c] for c in COLOUR),
                       *itertools.product(BRIGHTNESS, COLOUR)):
        head = "A " + ", ".join(adjectives) + " scene" if adjectives else "A scene"
        yield head + "."
        for d, m in itertools.product(DETAIL, MOTION):
            yield f"{head} with {d} and {m}."
        for w in DETAIL + MOTION:
            yield f"{head} with {w}."


def quality_sentences():
    """Every technical-quality sentence the describer writes."""
    found_lists = [[]] + [[a] for a in ARTIFACTS] + [
        [b, r] for b in ARTIFACTS[:2] for r in ARTIFACTS[2:]]
    for found in found_lists:
        if found:
            yield f"The picture shows {' and '.join(found)}."
        else:
            yield f"The picture shows {ARTIFACT_FREE}."
        for level in LEVELS:
            if found:
                yield f"The quality is {level}: {' and '.join(found)}."
            elif level in ("excellent", "good"):
                yield f"The quality is {level} with {ARTIFACT_FREE}."
            else:
                yield f"The quality is {level}: {DETAIL_LOSS}."


def sentences(seed=0, n_random=6000):
    """Yields the corpus sentences (deterministic for a seed)."""
    rng = random.Random(seed)
    for _ in range(200):  # the prompts are in every example: give them whole pieces
        yield prompts.describe_prompt()
        yield prompts.compare_prompt()
    contents = list(content_sentences())
    styles = [f"The style is {s}." for s in STYLE]
    qualities = list(quality_sentences())
    yield from contents
    yield from styles
    yield from qualities
    for score in range(101):
        yield f"The quality score is {score}."
        yield f"Quality: {score} out of 100."
    for crf in range(52):
        yield f"Encoded with H.264 at CRF {crf}."
        yield f"The HEVC encode uses CRF {crf}."
    for a, b in itertools.product(GENERAL_ARTIFACTS, GENERAL_ARTIFACTS):
        if a != b:
            yield f"The picture has {a} and {b}."
    for a, b in itertools.product(GENERAL_GOOD, GENERAL_GOOD):
        if a != b:
            yield f"The picture is {a} and {b}."
    for a, b in itertools.product(range(0, 101, 7), range(3, 101, 9)):
        yield prompts.compare_answer(a, b)
    for _ in range(n_random):  # whole descriptions, weighted like the training data
        yield " ".join((rng.choice(contents[1:]), rng.choice(styles), rng.choice(qualities)))


def train_tokenizer(out_dir=ASSET_DIR, vocab_size=1024, seed=0):
    """Trains a BPE SentencePiece model with Gemma's special-token ids.

    Returns the path of the written `vocabulary.spm` (pad 0, eos 1, bos 2, unk 3).
    """
    import sentencepiece as spm

    os.makedirs(out_dir, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(sentences(seed))),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        character_coverage=1.0,
        byte_fallback=True,
        split_digits=True,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3,
        pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
        num_threads=1,
        minloglevel=2,
    )
    path = os.path.join(out_dir, VOCAB_FILE)
    with open(path, "wb") as f:
        f.write(model.getvalue())
    return path


def main(argv):
    del argv
    print(train_tokenizer(flags.FLAGS.out_dir, flags.FLAGS.vocab_size))


if __name__ == "__main__":
    flags.DEFINE_string("out_dir", ASSET_DIR, "Where to write vocabulary.spm.")
    flags.DEFINE_integer("vocab_size", 1024, "SentencePiece vocabulary size.")
    app.run(main)
