"""Mini-VQA: a digit image and a yes/no question about it, so that neither input suffices alone.

Taught in chapter 11. Each example pairs one of scikit-learn's 8x8 digits with a generated question such
as ``is it greater than 6 ?`` or ``is it even ?``. The question and the answer (yes or no with probability
one half) are drawn first, then a digit that gives that answer, then an image of that digit. Every
question is therefore answered "yes" half of the time, so the question alone says nothing about the
answer, and the image alone says little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validate import as_int_array, check_int, check_positive, check_str

__all__ = ["VOCAB", "TEMPLATES", "QUESTION_LENGTH", "VQA", "mini_vqa", "encode_question"]

#: Token 0 pads questions to the same length.
VOCAB: list[str] = ["<pad>", "is", "it", "equal", "to", "greater", "less", "than", "even", "odd", "?",
                    *[str(k) for k in range(10)]]
_ID = {w: i for i, w in enumerate(VOCAB)}
#: The question templates and the answer each gives for digit ``d`` (and number ``k`` where used).
TEMPLATES = {
    "equal": ("is it equal to {k} ?", lambda d, k: d == k),
    "greater": ("is it greater than {k} ?", lambda d, k: d > k),
    "less": ("is it less than {k} ?", lambda d, k: d < k),
    "even": ("is it even ?", lambda d, k: d % 2 == 0),
    "odd": ("is it odd ?", lambda d, k: d % 2 == 1),
}
QUESTION_LENGTH = 6
# The numbers each template may ask about: only questions that can be answered both ways.
_K_RANGE = {"equal": (0, 9), "greater": (0, 8), "less": (1, 9), "even": (0, 0), "odd": (0, 0)}


def encode_question(text: str) -> np.ndarray:
    """Token ids of a question, padded with 0 to :data:`QUESTION_LENGTH`."""
    words = check_str(text, "text").split()
    unknown = [w for w in words if w not in _ID]
    if unknown or len(words) > QUESTION_LENGTH:
        raise ValueError(f"text must be a question of at most {QUESTION_LENGTH} words from VOCAB, got {text!r}")
    return np.array([_ID[w] for w in words] + [0] * (QUESTION_LENGTH - len(words)), dtype=np.int64)


@dataclass
class VQA:
    """``images`` (n, 64) standardized pixels, ``questions`` (n, 6) token ids, ``answers`` (n,) 1 = yes;
    ``digits`` and ``templates`` say what each example is about, and ``texts`` holds the questions."""

    images: np.ndarray
    questions: np.ndarray
    answers: np.ndarray
    digits: np.ndarray
    templates: np.ndarray
    texts: list[str]

    def __len__(self) -> int:
        return len(self.answers)

    def __getitem__(self, idx: object) -> "VQA":
        """The examples that ``idx`` selects, as a new VQA: a slice, integer indices, or a boolean mask with one
        entry per example. A single integer is refused (write ``d[[i]]`` for a one-example VQA)."""
        if not isinstance(idx, slice):
            idx = np.asarray(idx)
            if idx.size == 0:
                idx = idx.astype(np.int64)
            if idx.ndim != 1 or idx.dtype.kind not in "biu":
                raise TypeError(f"idx must be a slice, a 1-D list or array of integer indices, or a boolean mask "
                                f"(for one example write d[[i]]), got {idx.dtype} of shape {idx.shape}")
            if idx.dtype.kind == "b" and len(idx) != len(self):
                raise ValueError(f"idx, a boolean mask, must have one entry per example ({len(self)}), got {len(idx)}")
        texts = [self.texts[i] for i in np.arange(len(self))[idx]]
        return VQA(self.images[idx], self.questions[idx], self.answers[idx], self.digits[idx],
                   self.templates[idx], texts)

    def __repr__(self) -> str:
        if not len(self):
            return "VQA(0 examples)"
        return f"VQA({len(self)} examples, {self.answers.mean():.0%} yes; e.g. {self.texts[0]!r} -> {bool(self.answers[0])})"


def mini_vqa(n: int, *, seed: int = 0, image_ids: np.ndarray | None = None) -> VQA:
    """``n`` examples drawn from the digits listed in ``image_ids`` (all 1,797 by default).

    Pixels are scaled to [0, 1] (divided by 16). Pass disjoint ``image_ids`` to build train and test
    sets that share no image.
    """
    from sklearn.datasets import load_digits

    check_positive(n, "n", integer=True)
    check_int(seed, "seed", min=0)
    d = load_digits()
    ids = (np.arange(len(d.target)) if image_ids is None else
           as_int_array(image_ids, "image_ids", ndim=1, min=0, max=len(d.target) - 1, nonempty=True))
    rng = np.random.default_rng(seed)
    by_digit = {k: ids[d.target[ids] == k] for k in range(10)}
    names = list(TEMPLATES)
    pick, questions, answers, temps, texts = [], [], [], [], []
    while len(pick) < n:
        name, answer = names[rng.integers(len(names))], bool(rng.integers(2))
        text, rule = TEMPLATES[name]
        k = int(rng.integers(_K_RANGE[name][0], _K_RANGE[name][1] + 1)) if "{k}" in text else None
        digits = [g for g in range(10) if rule(g, k) == answer and len(by_digit[g])]
        if not digits:
            continue
        digit = digits[rng.integers(len(digits))]
        i = int(by_digit[digit][rng.integers(len(by_digit[digit]))])
        text = text.format(k=k)
        pick.append(i)
        questions.append(encode_question(text))
        answers.append(int(answer))
        temps.append(name)
        texts.append(text)
    pick_arr = np.array(pick)
    return VQA(d.data[pick_arr] / 16.0, np.stack(questions), np.array(answers), d.target[pick_arr],
               np.array(temps), texts)
