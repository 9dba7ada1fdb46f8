"""Generates the description corpus and trains the tiny preset's SentencePiece model.

The corpus covers what CP-LLM's answers talk about: content (the scikit-image sample
images and ffmpeg test sources the project's clips are made from), style, technical
quality (artifacts, CRF, numbers 0-100) and the pairwise answers of `prompts`.

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

CONTENT = {
    "astronaut": ["an astronaut in a white space suit", "a smiling astronaut with a flag"],
    "coffee": ["a cup of coffee on a saucer", "a coffee cup seen from above"],
    "chelsea": ["a tabby cat looking at the camera", "a cat named Chelsea"],
    "cat": ["a cat with striped fur", "a close-up of a cat's face"],
    "rocket": ["a rocket on the launch pad", "a rocket standing against the sky"],
    "camera": ["a cameraman with a tripod", "a grayscale photographer on a lawn"],
    "coins": ["old coins on a dark table", "a grid of metal coins"],
    "hubble": ["a deep field of galaxies", "a galaxy image from the Hubble telescope"],
    "galaxy": ["a spiral galaxy in space", "stars and galaxies on black"],
    "cells": ["stained cells under a microscope", "an immunohistochemistry slide"],
    "testsrc": ["a test pattern with color bars", "a moving test card with a counter"],
    "mandelbrot": ["a zoom into the Mandelbrot fractal", "colorful fractal patterns"],
    "life": ["a game of life simulation", "cellular automaton cells blinking"],
    "smpte": ["SMPTE color bars", "a broadcast test signal"],
}
STYLE = [
    "natural footage", "camera footage", "a synthetic pattern", "computer generated graphics",
    "an animation", "screen content", "a still image animated with a slow pan",
    "a still image animated with a slow zoom", "scientific imagery",
]
ARTIFACTS = [
    "blocking artifacts", "blurring", "ringing around edges", "banding in smooth areas",
    "mosquito noise", "loss of fine texture", "smeared details", "visible macroblocks",
    "color bleeding", "staircase edges",
]
GOOD = ["sharp", "clean", "crisp", "detailed", "free of visible artifacts"]
LEVELS = [
    (90, "excellent"), (75, "good"), (60, "fair"), (40, "poor"), (20, "bad"), (0, "very bad"),
]


def _level(score):
    return next(word for floor, word in LEVELS if score >= floor)


def sentences(seed=0, n_random=6000):
    """Yields the corpus sentences (deterministic for a seed)."""
    rng = random.Random(seed)
    for _ in range(200):  # the prompts are in every example: give them whole pieces
        yield prompts.describe_prompt()
        yield prompts.compare_prompt()
    for name, phrases in CONTENT.items():
        for phrase in phrases:
            yield f"The video shows {phrase}."
            yield f"This clip shows {phrase} ({name})."
    for style in STYLE:
        yield f"The style is {style}."
        yield f"It looks like {style}."
    for score in range(101):
        yield f"The quality score is {score}."
        yield f"Quality: {score} out of 100, {_level(score)}."
    for crf in range(52):
        yield f"Encoded with H.264 at CRF {crf}."
        yield f"The HEVC encode uses CRF {crf}."
    for a, b in itertools.product(range(0, 101, 7), range(3, 101, 9)):
        yield prompts.compare_answer(a, b)
    for _ in range(n_random):
        name = rng.choice(list(CONTENT))
        phrase = rng.choice(CONTENT[name])
        style = rng.choice(STYLE)
        score = rng.randint(0, 100)
        crf = rng.randint(10, 51)
        if score >= 70:
            tech = f"The picture is {rng.choice(GOOD)} and {rng.choice(GOOD)}."
        else:
            tech = (f"The picture has {rng.choice(ARTIFACTS)} and "
                    f"{rng.choice(ARTIFACTS)} from compression at CRF {crf}.")
        yield (f"The video shows {phrase}. The style is {style}. {tech} "
               f"The quality is {_level(score)}, score {score}.")


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
