"""Input configuration: how strictly conversation texts are taken (SPEC §1.2)."""

import dagster as dg


class InputSettings(dg.ConfigurableResource):
    """``strict_texts``: False (default) normalises the opening prompt and every conversation
    message as the reference did (``inputs/normalise.py``: trim; null, empty or "None" becomes
    "EMPTY STRING") and warns with the count; True leaves them as read, so the blocking
    ``content_normalised`` rule rejects any text that is not already normalised, for
    maintainers who want an unnormalised file to stop the run."""

    strict_texts: bool = False
