"""The offline default moderation backend: alt-profanity-check (SPEC §2.2 ``moderation_flag``).

What it is: a linear SVM over character/word n-grams, calibrated to a probability, trained on
English offensive-language data; the model ships inside the PyPI wheel, so it runs with no
network and no download at run time.

What it can speak to, and how it is mapped onto the 11 categories of the released shape:
- its probability ``p`` that a text is profane/offensive is reported as the ``harassment``
  score (rounded to 2 dp). Harassment is the one category whose meaning ("harassing language
  towards any target") an offensive-language score approximates, and it is also the category
  that dominates the published flags (≈ 0.8 of flagged texts, SPEC §2.2);
- ``categories.harassment`` and ``flagged`` are ``p > threshold``. The default threshold 0.5
  is the package's own decision rule (``profanity_check.predict`` returns 1 exactly when
  ``p > 0.5``), applied to the unrounded probability like the API's own flags.

What it cannot detect, reported as False / 0.0 rather than guessed:
- hate as distinct from harassment (it does not know whether a protected group is targeted);
- threats (harassment/threatening, hate/threatening) and violence, violence/graphic;
- sexual content, sexual/minors;
- self-harm, self-harm/intent, self-harm/instructions;
- non-English text: it was trained on English, so other languages score low whatever they say.
It also over-fires on mild swearing that the API would not flag, and misses politely worded
abuse. Its flags are therefore not comparable with the published API flags; the published
results can be reused through the ``frozen`` pre-step (:mod:`.frozen`).

No Dagster import.
"""

from __future__ import annotations

from importlib import metadata

from prism_pipeline.core.flags.moderation.base import MODERATION_CATEGORIES

from .base import check_texts, empty_result, round_score

BACKEND = "local"
PACKAGE = "alt-profanity-check"
MAPPING = "harassment-only-v1"  # bump when the mapping onto categories changes
_ZERO_SCORES = dict.fromkeys(MODERATION_CATEGORIES, 0.0)
_NO_CATEGORIES = dict.fromkeys(MODERATION_CATEGORIES, False)


class LocalModerationBackend:
    """Detector (see ``metadata_flags.detectors.Detector``) over alt-profanity-check.

    ``threshold`` is compared with the unrounded probability: ``flagged = p > threshold``.
    """

    detector_id = "moderation-local"

    def __init__(self, threshold: float = 0.5) -> None:
        threshold = float(threshold)
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        self.threshold = threshold
        self.model = f"{PACKAGE}=={metadata.version(PACKAGE)}"
        # The model is a pickled scikit-learn estimator, so scikit-learn's version can change it.
        self._sklearn = metadata.version("scikit-learn")

    @property
    def version(self) -> str:
        return f"{self.model};scikit-learn=={self._sklearn};threshold={self.threshold!r};mapping={MAPPING}"

    def detect(self, texts: list[str]) -> list[dict]:
        """One result per text, same order; ``None`` texts get :func:`.base.empty_result`.

        The whole list goes to ``predict_prob`` in one vectorised call.
        """
        texts = check_texts(texts)
        present = [i for i, t in enumerate(texts) if t is not None]
        results = [empty_result(BACKEND, self.model) if t is None else None for t in texts]
        if not present:
            return results
        from profanity_check import predict_prob  # loads the model once per process, on first use

        probs = predict_prob([texts[i] for i in present]).tolist()
        for i, p in zip(present, probs, strict=True):
            hit = p > self.threshold
            results[i] = {
                "flagged": hit,
                "categories": {**_NO_CATEGORIES, "harassment": hit},
                "category_scores": {**_ZERO_SCORES, "harassment": round_score(p)},
                "backend": BACKEND,
                "model": self.model,
            }
        return results
