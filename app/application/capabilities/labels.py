"""How a classification answer is compared with the labels: one rule for matching
answers and for checking that a task's labels can be told apart."""

from __future__ import annotations

# Whitespace, quotes and emphasis a model may wrap its one-word answer in.
_WRAPPING = " \t\r\n\"'`*\u201c\u201d\u2018\u2019\u00ab\u00bb"


def normalise_answer(raw: str) -> str:
    """The answer without surrounding whitespace, quotes, emphasis or a final period."""
    answer = raw.strip(_WRAPPING)
    while answer.endswith("."):
        answer = answer[:-1].strip(_WRAPPING)
    return answer


def label_key(label: str) -> str:
    """What an answer must equal to name `label`: normalised, case folded."""
    return normalise_answer(label).casefold()
