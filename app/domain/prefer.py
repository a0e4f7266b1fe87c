"""The HTTP `Prefer` header (RFC 7240): how long a caller would wait for an answer.

A preference is a wish, not an order: a server ignores one it does not know or whose
value it cannot read, and applies one as far as it can. So nothing here refuses a
request: an unreadable `wait` is as if it were not sent, and a longer one than the
service allows is cut to its maximum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_WAIT_DIGITS = 9  # delta-seconds: anything longer is cut to the maximum anyway
LONGEST_WAIT = 999_999_999


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a request's Prefer headers ask for, as far as this service reads them."""

    wait: int | None = None  # seconds, as sent (None: not sent or unreadable)
    respond_async: bool = False  # "answer now, I will follow up": never wait


def parse_prefer(values: Iterable[str]) -> Preferences:
    """Read `wait` and `respond-async` from the Prefer header values.

    Names are case-insensitive; of a preference sent twice only the first counts;
    parameters after `;` are ignored; a value may be quoted.
    """
    seen: set[str] = set()
    wait: int | None = None
    respond_async = False
    for value in values:
        for item in value.split(","):
            token = item.split(";", 1)[0].strip()
            name, _, raw = token.partition("=")
            name = name.strip().lower()
            if not name or name in seen:
                continue
            seen.add(name)
            if name == "respond-async":
                respond_async = True
            elif name == "wait":
                wait = _delta_seconds(raw)
    return Preferences(wait=wait, respond_async=respond_async)


def _delta_seconds(raw: str) -> int | None:
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not text or not (text.isascii() and text.isdigit()):
        return None
    if len(text) > MAX_WAIT_DIGITS:
        return LONGEST_WAIT
    return int(text)


def wait_seconds(preferences: Preferences, *, default: int, maximum: int) -> tuple[int, bool]:
    """How long to wait, and whether that answers a `wait` preference (so the response
    says `Preference-Applied`).

    `respond-async` wins over everything; a readable `wait` is cut to `maximum`;
    otherwise `default` (a Sync task's wait, or 0).
    """
    if preferences.respond_async:
        return 0, False
    if preferences.wait is not None:
        return min(preferences.wait, maximum), True
    return min(default, maximum), False
