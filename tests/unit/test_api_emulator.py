"""The API's client, the emulator, without services: requests, keys, backoff, percentiles, order."""

from __future__ import annotations

import json
import random

import pytest

from pinpipe.emulator import source
from pinpipe.emulator.runner import backoff_delay, build_requests, percentile


def _post(i: int) -> source.Post:
    return source.Post(i, {"index": i, "title": f"t{i}"}, {"ind": i, "country": "X"}, {"ind": i, "age": 30})


def test_one_post_per_request_sends_objects_to_each_endpoint():
    requests = build_requests([_post(1), _post(2)], batch_size=1, first_seq=0, nonce="n")
    assert [(r.path, json.loads(r.body), r.events) for r in requests[:3]] == [
        ("/v1/pins", {"index": 1, "title": "t1"}, 1), ("/v1/geos", {"ind": 1, "country": "X"}, 1),
        ("/v1/users", {"ind": 1, "age": 30}, 1)]
    assert [r.idempotency_key for r in requests] == [
        "n-pin-0", "n-geo-1", "n-user-2", "n-pin-3", "n-geo-4", "n-user-5"]


def test_batches_carry_lists_of_one_type_and_keys_continue_across_pages():
    requests = build_requests([_post(i) for i in range(5)], batch_size=2, first_seq=30, nonce="n")
    assert [(r.path, [rec.get("index", rec.get("ind")) for rec in json.loads(r.body)]) for r in requests] == [
        ("/v1/pins", [0, 1]), ("/v1/geos", [0, 1]), ("/v1/users", [0, 1]),
        ("/v1/pins", [2, 3]), ("/v1/geos", [2, 3]), ("/v1/users", [2, 3]),
        ("/v1/pins", [4]), ("/v1/geos", [4]), ("/v1/users", [4])]
    assert requests[0].idempotency_key == "n-pin-30" and requests[-1].idempotency_key == "n-user-38"
    # A retry re-sends the very same bytes with the very same key.
    again = build_requests([_post(i) for i in range(5)], batch_size=2, first_seq=30, nonce="n")
    assert again == requests


def test_backoff_grows_exponentially_is_capped_and_respects_retry_after():
    rng = random.Random(1)
    ceilings = [max(backoff_delay(attempt, 0.1, 5.0, None, rng) for _ in range(200)) for attempt in range(8)]
    assert ceilings[0] <= 0.1 and 0.35 < ceilings[2] <= 0.4 and ceilings[7] <= 5.0
    assert all(backoff_delay(0, 0.1, 5.0, 2.0, rng) == 2.0 for _ in range(20))
    assert backoff_delay(0, 0.1, 5.0, 60.0, rng) == 5.0


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0 and percentile(values, 100) == 100.0
    assert percentile([3.0], 99) == 3.0 and percentile([], 50) is None


def test_sequential_order_cycles_and_random_order_is_seeded():
    ids = [3, 5, 8]
    sequential = source.id_order(ids, "sequential", 0)
    assert [next(sequential) for _ in range(7)] == [3, 5, 8, 3, 5, 8, 3]
    first, second = source.id_order(ids, "random", 4), source.id_order(ids, "random", 4)
    picks = [next(first) for _ in range(300)]
    assert picks == [next(second) for _ in range(300)]
    assert set(picks) == set(ids)
    with pytest.raises(ValueError, match="data generate"):
        next(source.id_order([], "random", 4))
