# The two commands a newcomer needs are `make demo` and `make test`; each installs what it
# needs first. Downloads and builds are cached in $(PINPIPE_CACHE) for every clone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PINPIPE_CACHE ?= $(HOME)/.cache/pinpipe
UV_VERSION := 0.13.8
UV := $(PINPIPE_CACHE)/uv-$(UV_VERSION)/bin/uv
export UV_CACHE_DIR := $(PINPIPE_CACHE)/uv-cache
export PATH := /usr/local/go/bin:$(PATH)
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: help demo test kind-test system-deps venv up down status clean

help:
	@echo "make demo   run the whole pipeline end to end on this machine"
	@echo "make test   run every test tier this machine can run"

demo: system-deps venv ## the main job: the local end-to-end pipeline
	.venv/bin/pinpipe demo

test: system-deps venv ## unit, integration (local stack) and k8s-api tiers; e2e needs kind
	.venv/bin/pytest $(PYTEST_ARGS)

kind-test: venv ## the end-to-end tier against a kind cluster (needs docker, kind, helm, kubectl)
	PINPIPE_E2E=1 .venv/bin/pytest -m e2e tests/e2e $(PYTEST_ARGS)

# Debian packages the local stack runs (idempotent: installs only what is missing).
system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v go >/dev/null || missing="$$missing golang-go"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(UV):
	python3 -m venv $(PINPIPE_CACHE)/uv-$(UV_VERSION)
	$(PINPIPE_CACHE)/uv-$(UV_VERSION)/bin/pip install -q uv==$(UV_VERSION)

venv: $(UV)
	$(UV) sync --frozen --extra dev --python 3.11 --quiet

up: venv
	.venv/bin/pinpipe local up

down: venv
	.venv/bin/pinpipe local down

status: venv
	.venv/bin/pinpipe local status

clean: down
	rm -rf .venv .pinpipe
