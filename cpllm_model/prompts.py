"""The prompts of CP-LLM: single-video description and pairwise comparison (paper Fig. 6).

Every prompt the model sees at training or inference time is built here, so the trainer,
the scoring pipeline and `CPLLM.describe` / `CPLLM.compare` agree on the exact wording.
"""
import re

# The paper's annotation prompt, also its fine-tuning prompt (Sec. 4, "Implementation
# Details": the decoder was tuned with the prompt that produced the Gemini annotations).
# The score comes from the score head, never from the text.
DESCRIBE = (
    "Based on the provided video frames, create a three-sentence summary. First, "
    "describe the visual content of the video in detail. Second, identify the style "
    "of the video. Third, assess the technical quality."
)
COMPARE = (
    "Compare the quality of video A and video B. Which one is better? "
    "Give a score from 0 to 100 for each."
)


def describe_prompt():
    """Prompt for one video (its tokens follow the video's vision tokens)."""
    return DESCRIBE


def compare_prompt():
    """Prompt for a pair (its tokens follow video A's then video B's vision tokens)."""
    return COMPARE


def compare_answer(score_a, score_b):
    """The target answer of a pairwise example, e.g. 'Score A: 71. Score B: 45. Video A is
    better.' The scores come first, so that a decoder names the better video after (and
    from) the two scores it has just written."""
    a, b = round(float(score_a)), round(float(score_b))
    better = "A" if a >= b else "B"
    return f"Score A: {a}. Score B: {b}. Video {better} is better."


_NUMBER = r"(\d+(?:\.\d+)?)"
_VERDICT_FIRST = re.compile(
    r"video\s*([ab])\s*is\s*better.*?score\s*a\s*:?\s*" + _NUMBER
    + r".*?score\s*b\s*:?\s*" + _NUMBER, re.IGNORECASE | re.DOTALL)
_SCORES_FIRST = re.compile(
    r"score\s*a\s*:?\s*" + _NUMBER + r".*?score\s*b\s*:?\s*" + _NUMBER
    + r".*?video\s*([ab])\s*is\s*better", re.IGNORECASE | re.DOTALL)


def parse_compare_answer(text):
    """Parses a pairwise answer, scores first (`compare_answer`) or verdict first.
    Returns (better "A"|"B"|None, score_a|None, score_b|None)."""
    m = _SCORES_FIRST.search(text or "")
    if m:
        return m.group(3).upper(), float(m.group(1)), float(m.group(2))
    m = _VERDICT_FIRST.search(text or "")
    if not m:
        return None, None, None
    return m.group(1).upper(), float(m.group(2)), float(m.group(3))
