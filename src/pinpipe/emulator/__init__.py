"""The posting emulator: replays source rows to the ingestion API like users posting.

`run()` is the library entry point (`make demo` calls it); `pinpipe emulate` is the same
with a progress bar. Imported lazily so that `pinpipe --help` does not load httpx.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run"]


def __getattr__(name: str) -> Any:
    if name == "run":
        from pinpipe.emulator.runner import run

        return run
    raise AttributeError(name)
