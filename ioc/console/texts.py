"""The console's words, Vietnamese first, English second; both tables hold the same keys."""

from __future__ import annotations

from ioc.console.texts_en import EN
from ioc.console.texts_vi import VI

LANGUAGES = ("vi", "en")

TEXTS = {"vi": VI, "en": EN}

__all__ = ["EN", "LANGUAGES", "TEXTS", "VI"]
