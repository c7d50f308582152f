"""The stream sink's SQL and COPY text, and the stream settings, without a database."""

from __future__ import annotations

import pytest

from pinpipe.stream.settings import StreamSettings, env_overrides
from pinpipe_jobs.pg_sink import copy_line, merge_sql, table_ddl
from pinpipe_jobs.schemas import CLEAN_SCHEMAS


def test_user_table_maps_clean_columns_to_postgres_types_and_quotes_the_reserved_name():
    assert table_ddl("user", CLEAN_SCHEMAS["user"]) == (
        'CREATE TABLE IF NOT EXISTS stream."user" (\n'
        '    "event_id" text PRIMARY KEY,\n'
        '    "ingested_at" timestamptz,\n'
        '    "ind" integer,\n'
        '    "user_name" text,\n'
        '    "age" integer,\n'
        '    "date_joined" timestamptz,\n'
        '    "written_at" timestamptz NOT NULL\n'
        ")"
    )


def test_pin_and_geo_arrays_become_postgres_arrays():
    pin = table_ddl("pin", CLEAN_SCHEMAS["pin"])
    geo = table_ddl("geo", CLEAN_SCHEMAS["geo"])
    assert '"tag_list" text[]' in pin and '"follower_count" bigint' in pin
    assert '"coordinates" double precision[]' in geo


def test_merge_keeps_the_first_write_of_an_event():
    sql = merge_sql("geo", CLEAN_SCHEMAS["geo"])
    assert sql.endswith('ON CONFLICT ("event_id") DO NOTHING')
    assert "WHERE s.target = 'geo'" in sql
    assert "clock_timestamp()" in sql


def test_copy_line_doubles_backslashes_only():
    assert copy_line("pin", '{"title":"a\\"b\\\\c"}') == 'pin\t{"title":"a\\\\"b\\\\\\\\c"}\n'
    assert copy_line("quarantine", '{"raw_payload":"x\\ty"}') == 'quarantine\t{"raw_payload":"x\\\\ty"}\n'


def test_copy_line_drops_escaped_nul_that_postgres_cannot_store():
    assert copy_line("pin", r'{"title":"a\u0000b"}') == 'pin\t{"title":"ab"}\n'
    # An escaped backslash followed by the text u0000 is no NUL: it stays, doubled for COPY.
    assert copy_line("pin", r'{"title":"a\\u0000"}') == 'pin\t{"title":"a' + "\\" * 4 + 'u0000"}\n'
    assert copy_line("pin", r'{"title":"a\\\u0000"}') == 'pin\t{"title":"a' + "\\" * 4 + '"}\n'


def test_checkpoint_defaults_to_the_checkpoints_bucket_on_s3():
    assert StreamSettings().checkpoint() == "s3a://pinterest-checkpoints/stream/main"
    assert StreamSettings(checkpoint_location="s3a://b/x").checkpoint() == "s3a://b/x"


def test_settings_come_from_pinpipe_stream_variables(monkeypatch):
    monkeypatch.setenv("PINPIPE_STREAM_TRIGGER", "2 seconds")
    monkeypatch.setenv("PINPIPE_STREAM_MAX_OFFSETS_PER_TRIGGER", "500")
    settings = StreamSettings()
    assert (settings.trigger, settings.max_offsets_per_trigger) == ("2 seconds", 500)


def test_env_overrides_name_variables_and_refuse_unknown_fields():
    assert env_overrides({"trigger": "1 second", "checkpoint_location": "s3a://b/p"}) == {
        "PINPIPE_STREAM_TRIGGER": "1 second",
        "PINPIPE_STREAM_CHECKPOINT_LOCATION": "s3a://b/p",
    }
    with pytest.raises(ValueError, match="unknown stream setting 'trigger_interval'"):
        env_overrides({"trigger_interval": "1 second"})
