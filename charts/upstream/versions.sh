# The upstream operator charts the app chart needs, installed as their own releases before
# it, and the kind node: the one place their versions are written. kind/up.sh sources this
# file; skaffold.yaml repeats the chart versions (a chart test keeps all of them equal, and
# equal to src/pinpipe/versions.py and uv.lock).

# Strimzi: the last release with ZooKeeper; Kafka 3.9.x.       repo https://strimzi.io/charts/
STRIMZI_CHART_VERSION=0.45.2
# Kubeflow spark-operator (chart version = app version v2.5.2). repo https://kubeflow.github.io/spark-operator
SPARK_OPERATOR_CHART_VERSION=2.5.2
# CloudNativePG: chart 0.29.0 installs operator 1.30.0.         repo https://cloudnative-pg.github.io/charts
CNPG_CHART_VERSION=0.29.0
CNPG_VERSION=1.30.0
# The official Airflow chart, running our image with Airflow 3.3.2 (uv.lock). repo https://airflow.apache.org
AIRFLOW_CHART_VERSION=1.22.0
AIRFLOW_VERSION=3.3.2
# kind and its node image (the digest kind's release notes list for that release).
KIND_VERSION=v0.33.0
KIND_NODE_IMAGE=kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0
