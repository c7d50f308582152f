"""Kubernetes API access: one client configuration for kopf's login and for the handlers."""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
import kubernetes
from kubernetes.client import ApiClient, Configuration, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from pinpipe_operator.builders import GROUP, PLURAL, SPARK_API_VERSION, SPARK_GROUP, SPARK_PLURAL, VERSION
from pinpipe_operator.settings import OperatorSettings

log = logging.getLogger(__name__)


def load_configuration(settings: OperatorSettings) -> Configuration:
    config = Configuration()
    context = settings.context or None
    if settings.kubeconfig:
        kubernetes.config.load_kube_config(
            config_file=settings.kubeconfig, context=context, client_configuration=config
        )
        return config
    try:
        kubernetes.config.load_incluster_config(client_configuration=config)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(context=context, client_configuration=config)
    return config


def connection_info(config: Configuration) -> kopf.ConnectionInfo:
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix("authorization")
    scheme, _, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        scheme=scheme or ("Bearer" if token else None),
        token=token or None,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )


class Kube:
    """The few calls the operator makes besides kopf's own."""

    def __init__(self, config: Configuration, component: str) -> None:
        self.client = ApiClient(config)
        self.objects = CustomObjectsApi(self.client)
        self.core = CoreV1Api(self.client)
        self.component = component
        self.instance = socket.gethostname()

    def close(self) -> None:
        self.client.close()

    def get_pipeline(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def list_applications(self, namespace: str, pipeline_name: str) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={pipeline_name},app.kubernetes.io/managed-by=pinpipe-operator"
        found = self.objects.list_namespaced_custom_object(
            SPARK_GROUP, SPARK_API_VERSION, namespace, SPARK_PLURAL, label_selector=selector
        )
        return found["items"]

    def create_application(self, body: Mapping[str, Any]) -> bool:
        """Create; False when it exists already (409 means the work is done)."""
        try:
            self.objects.create_namespaced_custom_object(
                SPARK_GROUP, SPARK_API_VERSION, body["metadata"]["namespace"], SPARK_PLURAL, body
            )
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def delete_application(self, namespace: str, name: str) -> None:
        try:
            self.objects.delete_namespaced_custom_object(
                SPARK_GROUP, SPARK_API_VERSION, namespace, SPARK_PLURAL, name, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def patch_pipeline_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """A pipeline deleted since it was read (404) has no status left to write."""
        try:
            self.objects.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, {"status": patch})
        except ApiException as exc:
            if exc.status != 404:
                raise

    def post_event(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """A core/v1 Event about `obj`; a failure to post is logged, never raised.

        Not kopf.event(): that works only inside kopf's per-object handler context, and the
        periodic resync runs outside it.
        """
        meta = obj["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.core.create_namespaced_event(meta["namespace"], body)
        except ApiException as exc:
            log.warning("Could not post event %s about %s/%s: %s", reason, meta["namespace"], meta["name"], exc.reason)
