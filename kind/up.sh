#!/usr/bin/env bash
# Bring the whole pinpipe stack up on a kind cluster:
#   1. create the cluster (kind/cluster.yaml, pinned node image) unless it exists;
#   2. build the images (images/*) with docker and load them into the node;
#   3. install the upstream operators from their charts at the pinned versions
#      (charts/upstream/versions.sh): Strimzi, spark-operator, CloudNativePG;
#   4. install the app chart (release pinpipe, namespace pinpipe) and run `helm test`;
#   5. install Airflow (official chart, our image) and apply the PinterestPipeline `demo`.
# Then `make kind-test` runs the end-to-end suite against it.
#
# The upstream charts come from their own repositories, which this script does not reach
# by itself. With internet access, add them once:
#   helm repo add strimzi https://strimzi.io/charts/
#   helm repo add spark-operator https://kubeflow.github.io/spark-operator
#   helm repo add cnpg https://cloudnative-pg.github.io/charts
#   helm repo add apache-airflow https://airflow.apache.org
#   helm repo update
# Without it, download the four chart archives elsewhere (`helm pull <repo>/<chart> --version V`)
# and point PINPIPE_UPSTREAM_CHARTS at the folder holding them:
#   strimzi-kafka-operator-helm-3-chart-0.45.2.tgz (or strimzi-kafka-operator-0.45.2.tgz),
#   spark-operator-2.5.2.tgz, cloudnative-pg-0.29.0.tgz, airflow-1.22.0.tgz
#
# Environment: PINPIPE_KIND_CLUSTER (pinpipe), PINPIPE_NAMESPACE (pinpipe; the values files
# assume pinpipe), PINPIPE_UPSTREAM_CHARTS (unset: the helm repositories above),
# PINPIPE_SKIP_BUILD=1 (reuse the images already in docker), PINPIPE_SKIP_AIRFLOW=1.
# Tools: docker, kind (go install sigs.k8s.io/kind@$KIND_VERSION), kubectl, and helm (or
# `.venv/bin/python -m pinpipe.devtools.helm`, which builds the pinned helm from source).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=../charts/upstream/versions.sh
source charts/upstream/versions.sh

CLUSTER="${PINPIPE_KIND_CLUSTER:-pinpipe}"
NAMESPACE="${PINPIPE_NAMESPACE:-pinpipe}"
RELEASE=pinpipe
TAG=dev
CONTEXT="kind-$CLUSTER"
UPSTREAM="${PINPIPE_UPSTREAM_CHARTS:-}"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'kind/up.sh: %s\n' "$*" >&2; exit 1; }

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || die "$tool is missing (kind: go install sigs.k8s.io/kind@$KIND_VERSION)"
done
if command -v helm >/dev/null; then
  HELM=helm
elif [ -x .venv/bin/python ]; then
  HELM="$(.venv/bin/python -m pinpipe.devtools.helm)"
else
  die "helm is missing (or run make venv, then this script builds the pinned helm from source)"
fi
docker info >/dev/null 2>&1 || die "docker does not answer: start the docker daemon"

# chart_ref NAME REPO_CHART VERSION: a local archive when PINPIPE_UPSTREAM_CHARTS is set.
chart_ref() {
  local name="$1" repo_chart="$2" version="$3" archive
  if [ -z "$UPSTREAM" ]; then
    echo "$repo_chart"
    return
  fi
  for archive in "$UPSTREAM/$name-$version.tgz" "$UPSTREAM/$name-helm-3-chart-$version.tgz"; do
    if [ -f "$archive" ]; then echo "$archive"; return; fi
  done
  die "no $name $version chart archive in $UPSTREAM"
}
version_flag() { [ -z "$UPSTREAM" ] && echo "--version=$1" || true; }

step "kind cluster $CLUSTER ($KIND_NODE_IMAGE)"
if kind get clusters | grep -qx "$CLUSTER"; then
  echo "exists"
else
  kind create cluster --name "$CLUSTER" --config kind/cluster.yaml --wait 120s
fi
kubectl config use-context "$CONTEXT" >/dev/null

if [ "${PINPIPE_SKIP_BUILD:-}" != 1 ]; then
  step "images"
  # BuildKit reads each image's Dockerfile.dockerignore; the classic builder would send .venv.
  export DOCKER_BUILDKIT=1
  if ! docker image inspect pinpipe-base:bookworm >/dev/null 2>&1; then
    sudo_prefix=""; [ "$(id -u)" = 0 ] || sudo_prefix="sudo -E"
    $sudo_prefix images/base/build.sh
  fi
  docker build -f images/python/Dockerfile --build-arg BASE=pinpipe-base:bookworm -t "pinpipe-python:$TAG" .
  docker build -f images/operator/Dockerfile --build-arg "PYTHON=pinpipe-python:$TAG" -t "pinpipe-operator:$TAG" .
  docker build -f images/airflow/Dockerfile --build-arg "PYTHON=pinpipe-python:$TAG" -t "pinpipe-airflow:$TAG" .
  docker build -f images/spark/Dockerfile --build-arg BASE=pinpipe-base:bookworm -t "pinpipe-spark:$TAG" .
  docker build --build-arg BASE=pinpipe-base:bookworm -t "pinpipe-minio:$TAG" images/minio
fi
step "loading images into $CLUSTER"
for image in python operator airflow spark minio; do
  kind load docker-image --name "$CLUSTER" "pinpipe-$image:$TAG"
done

step "Strimzi $STRIMZI_CHART_VERSION"
# shellcheck disable=SC2046
"$HELM" upgrade --install strimzi "$(chart_ref strimzi-kafka-operator strimzi/strimzi-kafka-operator "$STRIMZI_CHART_VERSION")" \
  $(version_flag "$STRIMZI_CHART_VERSION") --kube-context "$CONTEXT" -n strimzi --create-namespace \
  -f charts/upstream/strimzi.values.yaml --wait --timeout 10m
step "spark-operator $SPARK_OPERATOR_CHART_VERSION"
# shellcheck disable=SC2046
"$HELM" upgrade --install spark-operator "$(chart_ref spark-operator spark-operator/spark-operator "$SPARK_OPERATOR_CHART_VERSION")" \
  $(version_flag "$SPARK_OPERATOR_CHART_VERSION") --kube-context "$CONTEXT" -n spark-operator --create-namespace \
  -f charts/upstream/spark-operator.values.yaml --set "spark.jobNamespaces={$NAMESPACE}" --wait --timeout 10m
step "CloudNativePG $CNPG_VERSION (chart $CNPG_CHART_VERSION)"
# shellcheck disable=SC2046
"$HELM" upgrade --install cnpg "$(chart_ref cloudnative-pg cnpg/cloudnative-pg "$CNPG_CHART_VERSION")" \
  $(version_flag "$CNPG_CHART_VERSION") --kube-context "$CONTEXT" -n cnpg-system --create-namespace \
  -f charts/upstream/cloudnative-pg.values.yaml --wait --timeout 10m

step "pinterest-pipeline (release $RELEASE in $NAMESPACE)"
"$HELM" upgrade --install "$RELEASE" charts/pinterest-pipeline --kube-context "$CONTEXT" \
  -n "$NAMESPACE" --create-namespace -f kind/pinpipe.values.yaml --wait --timeout 15m
"$HELM" test "$RELEASE" --kube-context "$CONTEXT" -n "$NAMESPACE" --logs --timeout 5m

if [ "${PINPIPE_SKIP_AIRFLOW:-}" != 1 ]; then
  step "Airflow $AIRFLOW_VERSION (chart $AIRFLOW_CHART_VERSION)"
  # shellcheck disable=SC2046
  "$HELM" upgrade --install airflow "$(chart_ref airflow apache-airflow/airflow "$AIRFLOW_CHART_VERSION")" \
    $(version_flag "$AIRFLOW_CHART_VERSION") --kube-context "$CONTEXT" -n "$NAMESPACE" \
    -f charts/upstream/airflow.values.yaml --wait --timeout 15m
fi

step "PinterestPipeline demo"
kubectl --context "$CONTEXT" -n "$NAMESPACE" apply -f kind/pipeline-demo.yaml
kubectl --context "$CONTEXT" -n "$NAMESPACE" get pinpipe

cat <<NEXT

The stack is up (context $CONTEXT, namespace $NAMESPACE).
  kubectl -n $NAMESPACE get pinpipe demo -w
  kubectl -n $NAMESPACE logs deploy/$RELEASE-operator -f
  kubectl -n $NAMESPACE port-forward svc/$RELEASE-api 28000:80
  make kind-test              # the end-to-end suite against this cluster
  kind delete cluster --name $CLUSTER
NEXT
