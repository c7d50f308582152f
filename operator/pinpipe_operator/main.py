"""The operator's handlers: `kopf run --standalone -m pinpipe_operator.main`.

Handlers are thin: they hand the pipeline to `Reconciler.reconcile`, which plans with pure
functions (planner, builders) and applies the plan.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from pinpipe_operator import runtime
from pinpipe_operator.builders import GROUP, MANAGED_BY, PLURAL, SPARK_API_VERSION, SPARK_GROUP, SPARK_PLURAL, VERSION


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, pipelines: kopf.Index, **_: Any) -> None:
    runtime.start(settings, memo, pipelines)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await runtime.stop(memo)


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    return runtime.login()


@kopf.index(GROUP, VERSION, PLURAL)
def pipelines(namespace: str, name: str, **_: Any) -> dict[tuple[str, str], bool]:
    return {(namespace, name): True}


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def pipeline_changed(namespace: str, name: str, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    memo.reconciler.reconcile(namespace, name, logger)


@kopf.on.event(SPARK_GROUP, SPARK_API_VERSION, SPARK_PLURAL, labels={"app.kubernetes.io/managed-by": MANAGED_BY})
def application_changed(body: kopf.Body, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    owner = runtime.owner_name(body)
    if owner is not None:
        memo.reconciler.reconcile(body.metadata.namespace, owner, logger)
