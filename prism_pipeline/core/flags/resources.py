"""Configuration of the metadata layer (SPEC §2, §7.3–§7.4)."""

from typing import Literal

import dagster as dg


class FlagSettings(dg.ConfigurableResource):
    """How texts are flagged.

    ``moderation_backend``: ``local`` (offline, alt-profanity-check; see docs/moderation.md) or
    ``openai`` (needs OPENAI_API_KEY). ``use_frozen_moderation``: reuse the published
    ``moderation_flag`` from a ``metadata.jsonl`` in the raw dir for the texts it covers, so
    only new texts go to the backend (SPEC §7.3). ``workers``: processes for per-text work
    (0 = one per core). How many flagging steps there are is not a setting but part of the
    graph: ``build_defs(flag_shards=n)`` (``PRISM_FLAG_SHARDS`` for the code location), fixed
    when the definitions are built so any executor sees every step up front.
    """

    moderation_backend: Literal["local", "openai"] = "local"
    moderation_threshold: float = 0.5
    openai_model: str = "omni-moderation-2024-09-26"
    use_frozen_moderation: bool = True
    workers: int = 0
    chunk_size: int = 1000

    def result_settings(self) -> dict:
        """The fields that change results (not workers or chunk size): the flags' settings
        version (``sources/assets.py``), so a new threshold marks the flags unsynced and more
        workers do not."""
        return {k: getattr(self, k) for k in ("moderation_backend", "moderation_threshold", "openai_model",
                                              "use_frozen_moderation")}

    def moderation_spec(self):
        from prism_pipeline.core.flags.moderation import moderation_detector_spec

        if self.moderation_backend == "openai":
            return moderation_detector_spec("openai", model=self.openai_model)
        return moderation_detector_spec("local", threshold=self.moderation_threshold)

    def workers_for(self, backend: str) -> int | None:
        # The OpenAI client has its own bounded thread pool; more processes would multiply it.
        if backend == "openai":
            return 1
        return self.workers or None
