"""Request and response bodies, with DESIGN.md's field names.

Strict: a field of the wrong JSON type is refused rather than coerced ("12" is not an int),
unknown fields are refused, and every text field has a bound. The dirty values of the
source data (placeholders, "12k" follower counts, non-uuid unique_id) are valid text here
on purpose: cleaning them is the batch and stream jobs' work, and they must reach Kafka.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

# Postgres text cannot hold NUL, and a bound makes pydantic check the text is valid
# unicode (a lone surrogate would otherwise pass and fail later when encoded to UTF-8).
_NO_NUL = r"^[^\x00]*$"
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=_NO_NUL)]
Text = Annotated[str, StringConstraints(max_length=2_000, pattern=_NO_NUL)]
LongText = Annotated[str, StringConstraints(max_length=10_000, pattern=_NO_NUL)]


def _integral(value: object) -> object:
    # JSON has one number type: 358.0 is the integer 358 (JSON Schema agrees), 358.5 is not,
    # and "358" or true stay wrong types for the strict int check that follows.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def json_int(ge: int, le: int) -> Any:
    # The bounds come before the validator, or pydantic leaves them out of the JSON schema.
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_integral)]


# The source tables' ids are Postgres integers.
RecordId = json_int(0, 2**31 - 1)
Downloaded = json_int(0, 1)
Age = json_int(0, 150)


def _iso_timestamp(value: str) -> str:
    # Kept as sent (the envelope carries the client's data); only its shape is checked.
    datetime.fromisoformat(value)
    return value


# Exactly the calendar dates of 1900-2099 (leap days included), so that the OpenAPI spec
# describes what is accepted and a generated "valid" timestamp is valid.
# ([0-9], not \d, which matches any script's digits.)
_DATE = (r"((19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(19|20)[0-9]{2}-(0[13-9]|1[0-2])-(29|30)"
         r"|(19|20)[0-9]{2}-(0[13578]|1[02])-31|((19|20)(0[48]|[2468][048]|[13579][26])|2000)-02-29)")
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?"
Timestamp = Annotated[
    str,
    StringConstraints(max_length=40, pattern=f"^{_DATE}[T ]{_TIME}$"),
    AfterValidator(_iso_timestamp),
    Field(examples=["2018-06-26T02:12:31"], description="ISO 8601 date and time, years 1900 to 2099"),
]


class _Record(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class PinIn(_Record):
    index: RecordId
    unique_id: ShortText
    title: Text
    description: LongText
    poster_name: Text
    follower_count: ShortText = Field(examples=["12k", "1.5k", "3M", "450"])
    tag_list: Text = Field(description="Comma separated")
    is_image_or_video: ShortText
    image_src: Text
    downloaded: Downloaded
    save_location: Text
    category: ShortText


class GeoIn(_Record):
    ind: RecordId
    timestamp: Timestamp
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    country: Text


class UserIn(_Record):
    ind: RecordId
    first_name: Text
    last_name: Text
    age: Age
    date_joined: Timestamp


class Accepted(BaseModel):
    accepted: int
    event_ids: list[str]


class Problem(BaseModel):
    """Body of 409, 413 and 503 answers."""

    detail: str
