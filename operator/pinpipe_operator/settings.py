"""Settings of the operator process (env prefix PINPIPE_OPERATOR_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINPIPE_OPERATOR_", extra="ignore")

    # Empty: the pod's ServiceAccount in a cluster, else the default kubeconfig.
    kubeconfig: str = ""
    context: str = ""
    # How often every pipeline is compared with its applications, whatever the watches say.
    resync_interval_s: float = Field(default=30.0, gt=0)
    # The server ends each watch after this long and kopf starts a new one; the client gives
    # up a little later, so a watch that stalls silently is noticed.
    watch_server_timeout_s: int = Field(default=300, gt=0)
    watch_client_timeout_s: float = Field(default=330.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    # No handler needs a finalizer today; kopf still wants a name for one.
    finalizer: str = "operator.pinpipe.io/finalizer"
    # Not "pinpipe.io": kopf ignores every annotation under its own prefix, and
    # pinpipe.io/batch-request must reach the update handler.
    persistence_prefix: str = "operator.pinpipe.io"
    reporting_component: str = "pinpipe-operator"
