"""Generator settings (PINPIPE_DATAGEN_*): size, seed, and the rate of every dirty value."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pinpipe.settings import _env_files

class DatagenSettings(BaseSettings):
    """Each `rate_*` is the independent chance that a row carries that dirty value of DESIGN.md."""

    model_config = SettingsConfigDict(env_prefix="PINPIPE_DATAGEN_", env_file=_env_files(), extra="ignore")

    rows: int = Field(default=11_000, ge=1)
    seed: int = Field(default=42, ge=0)

    rate_no_title: float = Field(0.03, ge=0.0, le=1.0, description="title 'No Title Data Available'")
    rate_no_description: float = Field(0.03, ge=0.0, le=1.0, description="description 'No description available'")
    rate_story_description: float = Field(
        0.02, ge=0.0, le=1.0, description="description 'No description available Story format'")
    rate_user_info_error: float = Field(
        0.02, ge=0.0, le=1.0, description="poster_name and follower_count 'User Info Error'")
    rate_no_tags: float = Field(0.05, ge=0.0, le=1.0, description="tag_list 'N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e'")
    rate_image_src_error: float = Field(0.03, ge=0.0, le=1.0, description="image_src 'Image src error.'")
    rate_multi_video: float = Field(
        0.04, ge=0.0, le=1.0, description="is_image_or_video 'multi-video(story page format)'")
    # The original data carries the prefix on every row; a lower rate mixes in bare paths.
    rate_save_location_prefix: float = Field(
        1.0, ge=0.0, le=1.0, description="save_location 'Local save in /data/<category>'")
    rate_bad_unique_id: float = Field(0.01, ge=0.0, le=1.0, description="unique_id that is not a uuid")

    def rates(self) -> dict[str, float]:
        """The dirty-value rates by name without the `rate_` prefix."""
        return {name[5:]: value for name, value in self.model_dump().items() if name.startswith("rate_")}

    @model_validator(mode="after")
    def _descriptions_fit(self) -> DatagenSettings:
        # Both description placeholders come from one draw (see frames.build_chunk).
        if self.rate_no_description + self.rate_story_description > 1:
            raise ValueError("rate_no_description + rate_story_description must not exceed 1")
        return self
