"""``language_flag``: langid 1.1.6's label for each text (SPEC §2.2).

The rule is ``language_flag = langid.classify(text)[0]`` with langid 1.1.6's default model
(97 languages); null text gives a null flag. ``en_flag = language_flag == "en"`` is derived
by the caller (SPEC §2.3).

Implementation, and why it is not plain py3langid
-------------------------------------------------
langid.classify spends most of its time in ``np.dot(uint32 counts, float32 matrix)``, which
converts the 7,480 x 97 model matrix to float64 on every call (≈ 150-600 µs per text here).
py3langid 0.3.0 ships the same model (``test_language.py`` checks the arrays are equal) and
is ≈ 3x faster, but it counts features as uint16 so the product is computed in **float32**:
its log-probabilities differ from langid's by up to ~1e-4, and a text whose two best
languages are closer than that can get a different label. A few hundred test sentences
cannot rule that out over 106,554 texts, so plain py3langid is not used.

The default implementation here (``"certified"``) is exact by construction:

1. the model arrays are read from py3langid 0.3.0's file (~0.3 s with the preparation below,
   instead of langid's 1 s decode), guarded by the file's sha256 (py3langid 0.4.0 ships a
   different model), once per process;
2. each text runs through langid's byte automaton (the same state machine, so the same
   integer feature counts), and a whole batch is scored at once as sparse counts x the
   float64 model, which costs per non-zero feature instead of per model cell;
3. both this sum and langid's dense float64 ``np.dot`` differ from the exact real-valued
   score by at most ``gamma(n) * S`` (n = 7,482 terms, S = sum of absolute terms, standard
   floating-point summation bound, any order, with or without FMA), so where the best
   score beats the runner-up by more than ``8 * gamma(n) * S`` both implementations pick the
   same language (4x would suffice); for the rare remaining texts (near-ties; about 1e-7
   in log-probability) the detector calls ``langid.classify`` itself.

Hence the labels equal ``langid.classify`` on every text, which the tests also check on a
multilingual corpus (and on a text where py3langid's label differs) and with the fallback
forced on. Measured per text (``benchmarks/bench_metadata.py``, 400-character texts, one
thread): langid.classify ~300 µs, py3langid ~110 µs, this detector ~35-45 µs. ``implementation="langid"`` calls
``langid.classify`` per text (the reference path). The two implementations have different
``version`` strings, as the cache keys must name the code that produced a result.

Lone surrogates (invalid UTF-16 left by broken JSON escapes) make langid raise; this
detector encodes them with ``surrogatepass`` as py3langid does instead of failing a run.

No Dagster import.
"""

from __future__ import annotations

import array
import hashlib
import importlib.metadata
import lzma
import pickle
from pathlib import Path
from typing import Any

import numpy as np

LANGUAGE_FLAG = "language_flag"
IMPLEMENTATIONS = ("certified", "langid")
# sha256 of py3langid 0.3.0's data/model.plzma, equal to langid 1.1.6's default model.
PY3LANGID_MODEL_SHA256 = "8c99809ff6de3d129e447306d30ceae4713735230dced7e8d4d46df89e6968ce"
# Float64 rounding bound gamma(n) = n u / (1 - n u) for the 7,480 feature terms plus the prior.
_UNIT_ROUNDOFF = 2.0**-53
# Margin factor over gamma(n) * S below which the label is delegated to langid itself.
DEFAULT_MARGIN_FACTOR = 8.0


def _gamma(n: int) -> float:
    return n * _UNIT_ROUNDOFF / (1 - n * _UNIT_ROUNDOFF)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")


def read_model_file() -> bytes:
    """py3langid 0.3.0's model file, checked to be langid 1.1.6's default model by its sha256."""
    import py3langid  # noqa: PLC0415 - only its data file is used

    path = Path(py3langid.__file__).parent / "data" / "model.plzma"
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != PY3LANGID_MODEL_SHA256:
        raise RuntimeError(
            f"{path} has sha256 {digest}, not langid 1.1.6's default model "
            f"({PY3LANGID_MODEL_SHA256}); install py3langid==0.3.0 "
            "(0.4.0 ships a different model) or use implementation='langid'"
        )
    return raw


class _LangidModel:
    """langid's default model as float64 arrays, read from py3langid 0.3.0's model file."""

    def __init__(self) -> None:
        from scipy import sparse  # noqa: PLC0415

        raw = read_model_file()
        nb_ptc, nb_pc, nb_classes, tk_nextmove, tk_output = pickle.loads(lzma.decompress(raw))
        self.classes = np.array([str(c) for c in nb_classes], dtype=object)
        n_classes = len(self.classes)
        n_feats = len(nb_ptc) // n_classes
        # Same float32 values langid uses, widened exactly to float64 as its np.dot does.
        self.ptc = np.asarray(nb_ptc, dtype=np.float32).reshape(n_feats, n_classes).astype(np.float64)
        self.pc = np.asarray(nb_pc, dtype=np.float32).astype(np.float64)
        # A list indexes faster than array.array in the byte loop.
        self.nextmove = list(tk_nextmove)
        n_states = len(tk_nextmove) >> 8
        # state -> feature multiplicities (langid adds a state's count once per listed feature).
        rows, cols = [], []
        for state, feats in tk_output.items():
            rows.extend([state] * len(feats))
            cols.extend(feats)
        self.state_features = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.int64), (rows, cols)), shape=(n_states, n_feats)
        )
        self.n_states = n_states
        self.n_feats = n_feats
        # Per-feature max |log P(f|c)|, for the rounding-error bound.
        self.ptc_absmax = np.abs(self.ptc).max(axis=1)
        self.pc_absmax = float(np.abs(self.pc).max())
        self.sparse = sparse

    def states(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The automaton states entered, one per byte, all texts concatenated, and the
        per-text byte counts (langid's ``instance2fv`` loop)."""
        nextmove = self.nextmove
        out = array.array("q")
        append = out.append
        lengths = np.empty(len(texts), dtype=np.int64)
        for k, text in enumerate(texts):
            data = _encode(text)
            state = 0
            for byte in data:
                state = nextmove[(state << 8) + byte]
                append(state)
            lengths[k] = len(data)
        return np.frombuffer(out, dtype=np.int64), lengths

    def scores(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Log-probability scores (n x classes) and each row's rounding-error bound."""
        flat, lengths = self.states(texts)
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # CSR with repeated, unsorted column indices: products sum the repeats (no sort needed).
        state_counts = self.sparse.csr_matrix(
            (np.ones(len(flat), dtype=np.int64), flat, indptr), shape=(len(texts), self.n_states)
        )
        counts = state_counts @ self.state_features  # exact integer feature counts
        scores = np.asarray(counts @ self.ptc) + self.pc
        magnitude = np.asarray(counts @ self.ptc_absmax).ravel() + self.pc_absmax
        bound = _gamma(self.n_feats + 2) * magnitude
        return scores, bound


_SHARED_MODEL: _LangidModel | None = None


def shared_model() -> _LangidModel:
    """The process's one decoded model (0.3 s to build; forked workers inherit it if loaded)."""
    global _SHARED_MODEL
    if _SHARED_MODEL is None:
        _SHARED_MODEL = _LangidModel()
    return _SHARED_MODEL


class LangidDetector:
    """Detector giving ``{"language_flag": langid.classify(text)[0]}`` per text (SPEC §2.2).

    ``implementation``: ``"certified"`` (default; fast, provably equal labels, see the
    module docstring) or ``"langid"`` (``langid.classify`` per text). ``margin_factor``
    scales the near-tie margin below which ``"certified"`` defers to ``langid.classify``;
    it exists so tests can force that path, and does not change any label.
    """

    detector_id = "langid"
    # Heavy modules a forkserver can import once for all workers (runner.py).
    preload_modules = ("numpy", "scipy.sparse", "py3langid")

    def __init__(self, implementation: str = "certified", margin_factor: float = DEFAULT_MARGIN_FACTOR) -> None:
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        if not margin_factor >= 4.0:
            raise ValueError(f"margin_factor must be >= 4 for the labels to equal langid's, got {margin_factor}")
        self.implementation = implementation
        self.margin_factor = float(margin_factor)
        self.fallbacks = 0  # texts delegated to langid.classify by the certified path
        if implementation == "certified":
            read_model_file()  # fail here, not in a worker, if the model file is wrong
        # Loaded on first use: building a detector only to read its version stays cheap.
        self._model: _LangidModel | None = None
        self._langid_classify: Any = None

    @property
    def version(self) -> str:
        base = f"langid=={importlib.metadata.version('langid')};model=default"
        if self.implementation == "langid":
            return f"{base};impl=langid.classify"
        return (
            f"{base};impl=certified-sparse-f64"
            f"(py3langid=={importlib.metadata.version('py3langid')} model file,langid.classify near ties)"
        )

    def _classify(self, text: str) -> str:
        if self._langid_classify is None:
            import langid  # noqa: PLC0415 - 1 s model decode, only when needed

            self._langid_classify = langid.classify
        # langid encodes str as strict UTF-8 itself; passing the same bytes (surrogatepass for
        # lone surrogates, on which it would raise) gives its label for every valid text.
        return str(self._langid_classify(_encode(text))[0])

    def load(self) -> None:
        """Load the model now (the runner calls this before forking workers)."""
        if self.implementation == "certified" and self._model is None:
            self._model = shared_model()
        elif self.implementation == "langid":
            self._classify("")

    @staticmethod
    def null_result() -> dict:
        return {LANGUAGE_FLAG: None}

    def detect(self, texts: list[str]) -> list[dict]:
        texts = list(texts)
        labels: list[str | None] = [None] * len(texts)
        present = [i for i, t in enumerate(texts) if isinstance(t, str)]
        if self.implementation == "langid":
            for i in present:
                labels[i] = self._classify(texts[i])
        elif present:
            if self._model is None:
                self._model = shared_model()
            scores, bound = self._model.scores([texts[i] for i in present])
            best = scores.argmax(axis=1)
            top2 = np.partition(scores, -2, axis=1)[:, -2:] if scores.shape[1] > 1 else None
            gap = top2[:, 1] - top2[:, 0] if top2 is not None else np.full(len(present), np.inf)
            certain = gap > self.margin_factor * bound
            names = self._model.classes[best]
            for k, i in enumerate(present):
                if certain[k]:
                    labels[i] = names[k]
                else:
                    self.fallbacks += 1
                    labels[i] = self._classify(texts[i])
        return [{LANGUAGE_FLAG: label} for label in labels]
