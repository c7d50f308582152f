"""The Kafka -> raw bucket archiver (exactly once; see core.py for the protocol).

Kept free of heavy imports: `pinpipe --help` imports the CLI through this package.
"""

from __future__ import annotations

from typing import Any


def archive_until_idle(**overrides: Any) -> dict[str, Any]:
    """Archive what the topics hold now, flush, commit; returns objects written, records...

    Keyword arguments override ArchiverSettings fields (topics, group_id, flush_records...).
    """
    from pinpipe.archiver.core import archive_until_idle as run

    return run(**overrides)
