"""`pinpipe api`: serve the ingestion API with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default PINPIPE_API_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PINPIPE_API_PORT, 28000)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Processes, each with its own producer")] = None,
) -> None:
    """Run the ingestion API until interrupted."""
    import uvicorn

    from pinpipe.api.settings import ApiSettings

    settings = ApiSettings(**{k: v for k, v in (("host", host), ("port", port), ("workers", workers)) if v is not None})
    uvicorn.run("pinpipe.api.app:create_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level=settings.log_level, access_log=False)
