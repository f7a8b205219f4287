"""Is a body Twilio recorded the body flo sent? Twilio changes some bodies on its own:
Smart Encoding (on by default on Messaging Services) replaces characters outside GSM-7 with
look-alikes ("smart quotes" become ", an em dash becomes -, a tab becomes spaces), and
``ShortenUrls`` replaces each link with a short one. A look-up that wanted the exact text
would miss exactly those messages and send them again."""

from __future__ import annotations

import re
from collections.abc import Callable

# Characters Smart Encoding never touches: printable ASCII (except `) and line breaks.
_KEPT = re.compile(r"[\n\r\x20-\x5f\x61-\x7e]+")
_LINK = re.compile(r"https?://\S+")
_LONGEST_REPLACEMENT = 8  # Smart Encoding writes at most this many characters for one


def body_matcher(
    sent: str, *, smart_encoding: bool, shortened_links: bool
) -> Callable[[str], bool]:
    """A test of a recorded body against ``sent``, tolerant of what Twilio may have changed."""
    if not smart_encoding and not shortened_links:
        return lambda recorded: recorded == sent
    parts: list[str] = []
    position = 0
    links = _LINK.finditer(sent) if shortened_links else iter(())
    for link in links:
        parts.append(_text(sent[position : link.start()], smart_encoding))
        parts.append(r"https?://\S+")
        position = link.end()
    parts.append(_text(sent[position:], smart_encoding))
    pattern = re.compile("".join(parts))
    return lambda recorded: pattern.fullmatch(recorded) is not None


def _text(text: str, smart_encoding: bool) -> str:
    if not smart_encoding:
        return re.escape(text)
    parts = []
    position = 0
    for kept in _KEPT.finditer(text):
        parts.append(_replaceable(kept.start() - position))
        parts.append(re.escape(kept.group()))
        position = kept.end()
    parts.append(_replaceable(len(text) - position))
    return "".join(parts)


def _replaceable(count: int) -> str:
    return rf"[\s\S]{{0,{count * _LONGEST_REPLACEMENT}}}" if count else ""
