# The training image: agent + training pipeline + the [fleet] extra (Ray), for `anomaly-train fleet fit`
# locally or as a KubeRay RayJob (packaging/kubernetes/rayjob-fleet.yaml uses it for head and workers).
#
#   podman build -f packaging/kubernetes/training.Dockerfile -t host-anomaly-exporter-training:0.1.0 .
#
# Ray needs the same Ray and Python versions on every node: build one image and use it everywhere.
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG CA_BUNDLE=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY agent ./agent
COPY training ./training
COPY models/default ./models/default
RUN if [ -n "$CA_BUNDLE" ]; then export PIP_CERT="$CA_BUNDLE"; fi \
    && /opt/venv/bin/pip install '.[train,fleet]' \
    && /opt/venv/bin/anomaly-train fleet fit --help >/dev/null
# KubeRay starts `ray start` in the containers itself; the RayJob's entrypoint runs anomaly-train on the head.
WORKDIR /data
