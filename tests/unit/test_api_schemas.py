"""Request bodies: DESIGN.md's fields, strict types, unknown fields refused, dirty values let through."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pinpipe.api.harness import SAMPLE_GEO as GEO
from pinpipe.api.harness import SAMPLE_PIN as PIN
from pinpipe.api.harness import SAMPLE_USER as USER
from pinpipe.api.schemas import GeoIn, PinIn, UserIn

MODELS = {"pin": (PinIn, PIN), "geo": (GeoIn, GEO), "user": (UserIn, USER)}


def _error(model, payload) -> dict:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    (error,) = caught.value.errors()
    return error


@pytest.mark.parametrize("record_type", MODELS)
def test_a_record_is_kept_as_sent(record_type):
    model, payload = MODELS[record_type]
    assert json.loads(model.model_validate(payload).model_dump_json()) == payload


def test_dirty_values_of_the_source_data_are_valid_input():
    assert PinIn.model_validate({**PIN, "unique_id": "unique_id unavailable", "follower_count": "1.5k"})


@pytest.mark.parametrize(("record_type", "field", "value"), [
    ("pin", "index", "7528"), ("pin", "index", 7528.5), ("pin", "index", True), ("pin", "downloaded", "1"),
    ("pin", "title", 12), ("pin", "tag_list", ["a", "b"]), ("pin", "follower_count", 12000),
    ("geo", "latitude", "-89.9"), ("geo", "longitude", None), ("geo", "timestamp", 1598586767),
    ("user", "age", "20"), ("user", "age", 20.5), ("user", "first_name", {"a": 1}),
])
def test_wrong_types_are_refused_naming_the_field(record_type, field, value):
    model, payload = MODELS[record_type]
    error = _error(model, {**payload, field: value})
    assert error["loc"] == (field,)


@pytest.mark.parametrize("record_type", MODELS)
def test_missing_and_unknown_fields_are_refused(record_type):
    model, payload = MODELS[record_type]
    first = next(iter(payload))
    missing = {k: v for k, v in payload.items() if k != first}
    assert _error(model, missing)["loc"] == (first,)
    error = _error(model, {**payload, "poster": "x"})
    assert (error["type"], error["loc"]) == ("extra_forbidden", ("poster",))


@pytest.mark.parametrize(("field", "value"), [
    ("ind", -1), ("ind", 2**31), ("latitude", 90.5), ("longitude", -180.01), ("latitude", float("nan")),
    ("timestamp", "yesterday"), ("timestamp", "2020-13-01T00:00:00"), ("country", "x" * 2_001),
    ("country", "nul\x00byte"), ("country", "lone \ud800 surrogate"),
])
def test_out_of_range_and_unstorable_values_are_refused(field, value):
    assert _error(GeoIn, {**GEO, field: value})["loc"] == (field,)


@pytest.mark.parametrize("stamp", ["2020-08-28T03:52:47", "2020-08-28 03:52:47", "2020-08-28T03:52:47.123456Z",
                                   "2020-08-28T03:52:47+02:00"])
def test_iso_timestamps_are_accepted_as_sent(stamp):
    assert GeoIn.model_validate({**GEO, "timestamp": stamp}).timestamp == stamp


def test_json_numbers_are_one_type_as_json_schema_says():
    assert GeoIn.model_validate({**GEO, "latitude": 45}).latitude == 45.0
    as_float = UserIn.model_validate({**USER, "age": 20.0})
    assert as_float.model_dump_json() == UserIn.model_validate(USER).model_dump_json()
