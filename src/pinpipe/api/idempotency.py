"""Idempotency-Key support: what a key is bound to, the event ids it derives, the answer cache."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

# Fixed so that an event id is a pure function of (key, records, position) in every process.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c2a52-8f0e-4d5c-9b1e-3a7d2c9e4b10")


def fingerprint(record_type: str, data_json: Sequence[str]) -> str:
    """What an Idempotency-Key is bound to: the record type and the records, in order."""
    digest = hashlib.sha256(record_type.encode())
    for data in data_json:
        digest.update(b"\n")
        digest.update(data.encode())
    return digest.hexdigest()


def derived_event_ids(idempotency_key: str, records_fingerprint: str, n: int) -> list[str]:
    """uuid5(EVENT_ID_NAMESPACE, f"{key}\\n{fingerprint}\\n{position}") for each position.

    Computed from one SHA-1 state copied per position and formatted by hand: the same
    values as uuid.uuid5, a sixth of the cost on a 500-record batch.
    """
    prefix = hashlib.sha1(EVENT_ID_NAMESPACE.bytes + f"{idempotency_key}\n{records_fingerprint}\n".encode())
    ids = []
    for position in range(n):
        digest = prefix.copy()
        digest.update(b"%d" % position)
        h = digest.hexdigest()
        # Version 5 in the 13th hex digit, the RFC 4122 variant (10xx) in the 17th.
        ids.append(f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}")
    return ids


@dataclass(frozen=True)
class CachedAnswer:
    fingerprint: str
    response: dict[str, Any]
    expires: float


class IdempotencyCache:
    """Answers by key for `ttl_s` seconds, at most `max_keys` of them (oldest dropped first)."""

    def __init__(self, ttl_s: float, max_keys: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s, self._max_keys, self._clock = ttl_s, max_keys, clock
        self._answers: OrderedDict[Hashable, CachedAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: Hashable) -> CachedAnswer | None:
        answer = self._answers.get(key)
        if answer is not None and answer.expires <= self._clock():
            del self._answers[key]
            return None
        return answer

    def put(self, key: Hashable, records_fingerprint: str, response: dict[str, Any]) -> None:
        now = self._clock()
        self._answers[key] = CachedAnswer(records_fingerprint, response, now + self._ttl_s)
        self._answers.move_to_end(key)
        # Insertion order is expiry order (one TTL for all), so both limits trim the front.
        while self._answers and (len(self._answers) > self._max_keys
                                 or next(iter(self._answers.values())).expires <= now):
            self._answers.popitem(last=False)
