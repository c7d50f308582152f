"""How far the stream job got: its committed Kafka offsets (from the checkpoint) against the topics' ends.

The checkpoint is the authority: Spark writes `commits/<n>` only after micro-batch n's
foreachBatch returned, that is after its rows were committed in Postgres, and
`offsets/<n>` holds the end offsets of that batch. Spark commits nothing to Kafka consumer
groups, so Kafka itself cannot tell.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from urllib.parse import urlparse

from pinpipe import settings as cfg

Offsets = dict[tuple[str, int], int]


def parse_offsets_log(text: str) -> Offsets:
    """One `offsets/<n>` file -> {(topic, partition): next offset}.

    Layout: a version line, a metadata line, then one line per source (ours: one per topic).
    """
    lines = text.splitlines()
    if len(lines) < 3 or not lines[0].startswith("v"):
        raise ValueError("not a Spark streaming offsets log entry")
    return {(topic, int(part)): int(offset)
            for line in lines[2:] if line.strip() and line != "-"
            for topic, parts in json.loads(line).items() for part, offset in parts.items()}


def spark_offsets_json(offsets: Mapping[tuple[str, int], int]) -> str:
    """{(topic, partition): offset} -> Spark's startingOffsets JSON."""
    out: dict[str, dict[str, int]] = {}
    for (topic, part), offset in sorted(offsets.items()):
        out.setdefault(topic, {})[str(part)] = offset
    return json.dumps(out)


def lag(committed: Mapping[tuple[str, int], int], end: Mapping[tuple[str, int], int]) -> int:
    """Messages up to `end` that the job has not committed yet.

    Spark commits a first micro-batch (empty if need be) naming every partition as soon as
    the query starts, so a partition missing from `committed` is one not reached yet.
    """
    return sum(max(0, offset - committed.get(tp, 0)) for tp, offset in end.items())


def _s3_client():
    from pinpipe import s3

    return s3.client(retries={"max_attempts": 3})


def _bucket_prefix(location: str) -> tuple[str, str]:
    url = urlparse(location)
    if url.scheme not in ("s3a", "s3"):
        raise ValueError(f"checkpoint {location!r} is not on S3 (s3a://bucket/prefix)")
    return url.netloc, url.path.strip("/") + "/"


class Tracker:
    """Reads a checkpoint's committed offsets and the topics' end offsets; keeps its clients open,
    so sampling every second costs one S3 listing and one Kafka request."""

    def __init__(self, checkpoint: str, topics: Iterable[str] = cfg.TOPICS) -> None:
        self.checkpoint = checkpoint
        self.topics = tuple(topics)
        self._bucket, self._prefix = _bucket_prefix(checkpoint)
        self._s3 = _s3_client()
        self._consumer = None

    def committed(self) -> Offsets:
        """The offsets after the last committed micro-batch; {} before the first commit."""
        commits = self._batch_ids("commits/")
        if not commits:
            return {}
        key = f"{self._prefix}offsets/{max(commits)}"
        return parse_offsets_log(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read().decode())

    def last_batches(self) -> tuple[int | None, int | None]:
        """(last planned, last committed) micro-batch: a planned batch above the committed one
        is in flight, and runs again if the job dies now."""
        planned, committed = self._batch_ids("offsets/"), self._batch_ids("commits/")
        return max(planned, default=None), max(committed, default=None)

    def end(self) -> Offsets:
        """The next offset of every partition of the topics."""
        from kafka import KafkaConsumer, TopicPartition

        if self._consumer is None:
            self._consumer = KafkaConsumer(bootstrap_servers=cfg.kafka().bootstrap_servers,
                                           client_id=f"{cfg.kafka().client_id}-stream-progress",
                                           enable_auto_commit=False)
        partitions = [TopicPartition(topic, part) for topic in self.topics
                      for part in sorted(self._consumer.partitions_for_topic(topic) or ())]
        return {(tp.topic, tp.partition): off for tp, off in self._consumer.end_offsets(partitions).items()}

    def lag(self, end: Offsets | None = None) -> int:
        return lag(self.committed(), self.end() if end is None else end)

    def delete(self) -> None:
        """Remove the checkpoint (a benchmark's or a test's, never the job's own)."""
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=self._prefix):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})

    def _batch_ids(self, folder: str) -> list[int]:
        prefix = self._prefix + folder
        ids = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            ids += [int(obj["Key"][len(prefix):]) for obj in page.get("Contents", [])
                    if obj["Key"][len(prefix):].isdigit()]
        return ids

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
