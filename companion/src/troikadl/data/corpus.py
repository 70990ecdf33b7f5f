"""An English corpus built offline from the docstrings of Python's standard library (chapter 7).

Every module in ``sys.stdlib_module_names`` that imports cleanly (skipping GUI, test and joke modules)
contributes the docstrings of itself and of the classes, methods and functions it defines. They are split into
sentences, and a sentence is kept if it has 4 to 40 words and is mostly letters. The result is
deterministic for a given Python installation, not for a Python version alone: which modules import
cleanly, and so contribute, depends also on the operating system (``winreg`` on Windows, ``fcntl``,
``grp`` and ``pwd`` on Unix) and on how Python was built (optional extension modules such as
``readline``, ``_sqlite3`` or ``_lzma``, without which ``sqlite3`` or ``lzma`` fail to import).
:attr:`Corpus.sha256` fingerprints the result; ``Corpus.python`` records only the version.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import io
import contextlib
import re
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from ..validate import check_instance, check_int, check_positive

__all__ = ["Corpus", "stdlib_corpus", "sentence_pairs"]

SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test", "__phello__",
        "_pyrepl", "pydoc_data", "lib2to3", "ensurepip", "venv", "webbrowser", "pty", "tty", "curses"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@dataclass(frozen=True)
class Corpus:
    """Sentences grouped by the docstring they come from (``documents``), and their provenance."""

    documents: tuple[tuple[str, ...], ...]
    python: str  # the Python version; the corpus also depends on the OS and the build, see sha256
    sha256: str
    modules: tuple[str, ...] = ()  # the module each document comes from

    def subset(self, keep: "list[bool] | np.ndarray") -> "Corpus":
        """The documents where ``keep`` is True (e.g. to hold some out of pretraining)."""
        if isinstance(keep, (str, bytes, bool, np.bool_)) or not hasattr(keep, "__len__"):
            raise TypeError(f"keep must be a list or array of True/False, one per document, got {keep!r:.40}")
        mask = np.asarray(keep)
        if mask.dtype != bool or mask.ndim != 1:
            raise TypeError(f"keep must hold True/False only (a 1-D boolean mask), got dtype {mask.dtype}")
        if len(mask) != len(self.documents):
            raise ValueError(f"keep must have one entry per document ({len(self.documents)}), got {len(mask)}")
        keep = mask.tolist()
        docs = tuple(d for d, k in zip(self.documents, keep) if k)
        mods = tuple(m for m, k in zip(self.modules, keep) if k)
        digest = hashlib.sha256("\n".join(x for d in docs for x in d).encode()).hexdigest()
        return Corpus(docs, self.python, digest, mods)

    @property
    def sentences(self) -> list[str]:
        return [s for doc in self.documents for s in doc]

    def __repr__(self) -> str:
        words = sum(len(s.split()) for s in self.sentences)
        return (f"Corpus({len(self.sentences):,} sentences, {words:,} words, {len(self.documents):,} docstrings, "
                f"Python {self.python}, sha256 {self.sha256[:12]}...)")


def _keep(sentence: str) -> bool:
    words = sentence.split()
    if not 4 <= len(words) <= 40:
        return False
    letters = sum(c.isalpha() or c.isspace() for c in sentence)
    return letters >= 0.85 * len(sentence) and sentence[0].isupper()


def _sentences(doc: str) -> tuple[str, ...]:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", doc)]
    out = []
    for para in paragraphs:
        if not para or para.startswith((">>>", "..")) or "::" in para:
            continue
        out += [s.strip() for s in _SENTENCE_END.split(para) if _keep(s.strip())]
    return tuple(out)


@functools.lru_cache(maxsize=1)
def stdlib_corpus() -> Corpus:
    """Build (once per process) the standard-library docstring corpus. Takes a second or two.

    It is built in a fresh, isolated Python process (``python -I -m troikadl.data.corpus``): which
    modules the calling process has already imported would otherwise change a few docstrings. The
    sentences depend on the Python version, the operating system and the build (which optional modules
    exist); compare ``sha256`` to know whether two machines built the same corpus.
    """
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-I", "-m", "troikadl.data.corpus"], capture_output=True, text=True,
                         check=True).stdout
    built = json.loads(out)
    docs = tuple(tuple(d) for _, d in built)
    if not docs:
        raise ValueError("the standard library yielded no sentences: is this a stripped Python build?")
    digest = hashlib.sha256("\n".join(s for d in docs for s in d).encode()).hexdigest()
    return Corpus(docs, sys.version.split()[0], digest, tuple(m for m, _ in built))


def _build() -> list[tuple[str, list[str]]]:
    docs: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    seen_sentences: set[str] = set()
    for name in sorted(sys.stdlib_module_names):
        if name in SKIP or name.startswith("_"):
            continue
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                module = importlib.import_module(name)
        except Exception:  # platform-specific or broken modules: skip them
            continue
        objects = [module]
        for _, obj in sorted(vars(module).items()):
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(obj, "__module__", None) == name:
                objects.append(obj)
                if inspect.isclass(obj):  # and the methods the class defines itself
                    objects += [m for _, m in sorted(vars(obj).items()) if inspect.isfunction(m)]
        for obj in objects:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                doc = inspect.getdoc(obj)
            if not doc or doc in seen:
                continue
            seen.add(doc)
            sentences = []
            for x in _sentences(doc):
                if x not in seen_sentences:
                    seen_sentences.add(x)
                    sentences.append(x)
            if sentences:
                docs.append((name, sentences))
    return docs


def sentence_pairs(corpus: Corpus, n: int, *, seed: int = 0) -> tuple[list[tuple[str, str]], np.ndarray]:
    """``n`` sentence pairs for next-sentence prediction, half real and half random.

    A real pair (label 1) is two consecutive sentences of one docstring; a random pair (label 0) takes
    its second sentence from another docstring.
    """
    check_instance(corpus, "corpus", Corpus, "a Corpus (from stdlib_corpus)")
    check_positive(n, "n", integer=True)
    check_int(seed, "seed", min=0)
    rng = np.random.default_rng(seed)
    multi = [d for d in corpus.documents if len(d) >= 2]
    if not multi or len(corpus.documents) < 2:
        raise ValueError("the corpus needs docstrings with at least two sentences")
    pairs, labels = [], rng.integers(0, 2, n)
    for label in labels:
        di = int(rng.integers(len(multi)))
        doc = multi[di]
        i = int(rng.integers(len(doc) - 1))
        if label:
            pairs.append((doc[i], doc[i + 1]))
        else:
            other = corpus.documents[int(rng.integers(len(corpus.documents)))]
            while other is doc:
                other = corpus.documents[int(rng.integers(len(corpus.documents)))]
            pairs.append((doc[i], other[int(rng.integers(len(other)))]))
    return pairs, labels


if __name__ == "__main__":  # used by stdlib_corpus(): print the corpus as JSON
    import json

    sys.stdout.write(json.dumps(_build()))
