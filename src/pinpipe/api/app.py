"""The FastAPI application: lifespan (producer), body-size guard, error counting, routes.

`create_app` is a factory so that uvicorn workers and tests each build their own app,
producer and metrics registry: `uvicorn --factory pinpipe.api.app:create_app`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pinpipe import settings as cfg
from pinpipe.api.metrics import Metrics, build_metrics
from pinpipe.api.router import build_router
from pinpipe.api.service import Ingestor
from pinpipe.api.settings import ApiSettings


class BodySizeLimit:
    """413 before parsing: on a large Content-Length, or as soon as the streamed body outgrows the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Metrics) -> None:
        self.app, self.max_bytes, self.metrics = app, max_bytes, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            self.metrics.rejected.labels("too_large").inc()
            await JSONResponse({"detail": self._detail}, status_code=413)(scope, receive, send)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    self.metrics.rejected.labels("too_large").inc()
                    # FastAPI passes an HTTPException raised while it reads the body on to
                    # its exception middleware, which answers with it.
                    raise HTTPException(413, self._detail)
            return message

        await self.app(scope, limited_receive, send)

    @property
    def _detail(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"


def create_app(settings: ApiSettings | None = None, kafka: cfg.KafkaSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    metrics = build_metrics()
    ingestor = Ingestor(settings, kafka or cfg.kafka(), metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ingestor = ingestor
        ingestor.start()
        # Each uvicorn worker has its own producer: wait a little for it so that a worker does
        # not answer 503 just because it started later than the one /readyz reached.
        await ingestor.connected(settings.produce_timeout_s)
        try:
            yield
        finally:
            await ingestor.aclose()

    app = FastAPI(
        title="pinpipe ingestion API",
        version="1",
        description="Accepts Pinterest pin, geo and user records and publishes each to Kafka "
                    "(topics pinterest.pin, pinterest.geo, pinterest.user) before answering 202.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def count_validation_errors(request: Request, exc: RequestValidationError) -> Response:
        invalid_json = any(error.get("type") == "json_invalid" for error in exc.errors())
        metrics.rejected.labels("invalid_json" if invalid_json else "validation").inc()
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def count_unreadable_bodies(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers 400 when the body is not UTF-8; 409, 413 and 503 are counted where raised.
        if exc.status_code == 400:
            metrics.rejected.labels("invalid_json").inc()
        return await http_exception_handler(request, exc)

    app.include_router(build_router(settings))
    return app
