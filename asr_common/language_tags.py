"""The one language-tag check, for the core and the bridges alike (docs/bridges.md).

A language is a BCP-47 tag: a 2-3 letter language subtag, then hyphen-separated subtags of
2-8 letters or digits (`en`, `en-US`, `zh-Hant-TW`). POSIX locale names with an underscore
(`en_US`) are not BCP-47 and are refused: engines such as Google reject them.
"""
from __future__ import annotations

import re

BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def is_language_tag(tag: str) -> bool:
    return BCP47.match(tag) is not None
