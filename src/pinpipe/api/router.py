"""HTTP routes: thin, they validate (FastAPI + schemas) and hand records to the Ingestor.

No `from __future__ import annotations` here: the endpoints are built in a loop and
FastAPI must see their body types as objects, not as names to look up in this module.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Discriminator, Field, Tag

from pinpipe.api.schemas import Accepted, GeoIn, PinIn, Problem, UserIn
from pinpipe.api.service import BrokerUnavailable, IdempotencyConflict, Ingestor
from pinpipe.api.settings import ApiSettings


async def get_ingestor(request: Request) -> Ingestor:
    # async, so FastAPI calls it inline rather than in its thread pool.
    return request.app.state.ingestor


IngestorDep = Annotated[Ingestor, Depends(get_ingestor)]
IdempotencyKey = Annotated[str | None, Header(
    max_length=200, pattern=r"^[\x21-\x7e]+$",
    description="Retries with the same key within the window get the first answer and produce nothing.")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Body is not UTF-8 text"},
    409: {"model": Problem, "description": "Idempotency-Key reused with different records"},
    413: {"model": Problem, "description": "Request body larger than the configured maximum"},
    503: {"model": Problem, "description": "Kafka did not acknowledge in time; retry after Retry-After seconds"},
}


def _shape(value: Any) -> str:
    return "batch" if isinstance(value, list) else "record"


def _one_or_many(model: type[BaseModel], max_batch: int) -> Any:
    batch = Annotated[list[model], Field(min_length=1, max_length=max_batch)]  # type: ignore[valid-type]
    return Annotated[
        Annotated[model, Tag("record")] | Annotated[batch, Tag("batch")],
        Discriminator(_shape),
        Body(description=f"One record, or a JSON list of 1 to {max_batch} records"),
    ]


async def _ingest(ingestor: Ingestor, record_type: str, records: list[BaseModel],
                  idempotency_key: str | None) -> JSONResponse:
    try:
        outcome = await ingestor.ingest(record_type, records, idempotency_key)  # type: ignore[arg-type]
    except BrokerUnavailable as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": str(ingestor.settings.retry_after_s)}) from exc
    except IdempotencyConflict as exc:
        raise HTTPException(409, "Idempotency-Key already used with different records") from exc
    body, replayed = outcome
    return JSONResponse(body, status_code=202, headers={"Idempotent-Replayed": "true"} if replayed else None)


def _record_endpoint(record_type: str, body_type: Any) -> Any:
    async def endpoint(body: body_type, ingestor: IngestorDep, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        return await _ingest(ingestor, record_type, body if isinstance(body, list) else [body], idempotency_key)

    return endpoint


def build_router(settings: ApiSettings) -> APIRouter:
    router = APIRouter()
    for record_type, path, model in (("pin", "/v1/pins", PinIn), ("geo", "/v1/geos", GeoIn),
                                     ("user", "/v1/users", UserIn)):
        router.add_api_route(
            path, _record_endpoint(record_type, _one_or_many(model, settings.max_batch)), methods=["POST"],
            status_code=202, response_model=Accepted, responses=_ERRORS, tags=["ingest"],
            name=f"post_{record_type}s", summary=f"Publish one {record_type} record or a batch to Kafka",
        )

    @router.post("/pin/", status_code=202, response_model=Accepted, responses=_ERRORS, tags=["ingest"],
                 summary="The original emulation client's endpoint: one pin, as it always sent it")
    async def post_pin_legacy(body: PinIn, ingestor: IngestorDep,
                              idempotency_key: IdempotencyKey = None) -> JSONResponse:
        return await _ingest(ingestor, "pin", [body], idempotency_key)

    @router.get("/healthz", tags=["operations"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", tags=["operations"], summary="Kafka answers a metadata request",
                responses={503: {"description": "Kafka unreachable"}})
    async def readyz(ingestor: IngestorDep) -> JSONResponse:
        state = await ingestor.readiness()
        return JSONResponse(state, status_code=200 if state["ready"] else 503)

    @router.get("/metrics", tags=["operations"], response_class=PlainTextResponse,
                summary="Prometheus metrics of this process")
    async def metrics(ingestor: IngestorDep) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(ingestor.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
