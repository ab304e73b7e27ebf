# host-anomaly-exporter: the agent only (no TensorFlow), non-root, with the default bundle.
#
#   podman build -t host-anomaly-exporter .            # or docker build
#   podman build --build-arg BASE=localhost/hae-base .  # any Debian-like base with /usr/bin/python3 + venv
#   podman run -d --name hae -p 9840:9840 \
#       -v /proc:/host/proc:ro -v /sys:/host/sys:ro host-anomaly-exporter
#
# Host metrics are read from /host/proc and /host/sys (mount the host's read-only); NIC counters are
# the host's only with the host network (--network host, Kubernetes hostNetwork: true).
# Calibration state and history go to /var/lib/host-anomaly-exporter (mount a volume to keep them).
# Kubernetes: packaging/kubernetes/daemonset.yaml.  Details: docs/breadth.md.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
# A CA bundle for PyPI behind a TLS-intercepting proxy, mounted at build time (never copied into the image):
#   podman build -v /etc/ssl/certs/ca-certificates.crt:/run/ca.crt:ro --build-arg CA_BUNDLE=/run/ca.crt .
ARG CA_BUNDLE=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# python3 is /usr/local/bin/python3 on python:*-slim and /usr/bin/python3 on Debian: the venv works on both
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY agent ./agent
# pyproject lists both packages; training/ without the [train] extra is inert Python (no TensorFlow)
COPY training ./training
RUN if [ -n "$CA_BUNDLE" ]; then export PIP_CERT="$CA_BUNDLE"; fi \
    && /opt/venv/bin/pip install . \
    && /opt/venv/bin/python -c "import agent.model.loaded, agent.runtime.daemon, sys; \
assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules" \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools  # 23 MB the runtime never uses

FROM ${BASE}
ARG UID=10001
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
COPY models/default /usr/share/host-anomaly-exporter/models/default
RUN groupadd --system --gid ${UID} hae \
    && useradd --system --uid ${UID} --gid ${UID} --home-dir /var/lib/host-anomaly-exporter --no-create-home \
       --shell /usr/sbin/nologin hae \
    && install -d -o ${UID} -g ${UID} -m 0750 /var/lib/host-anomaly-exporter \
    && install -d -m 0755 /etc/host-anomaly-exporter \
    && printf '%s\n' \
       '# Container defaults: host /proc and /sys mounted read-only at /host/proc and /host/sys.' \
       'web:' \
       '  listen_address: ":9840"' \
       'model:' \
       '  bundle: /usr/share/host-anomaly-exporter/models/default' \
       'collector:' \
       '  procfs: /host/proc' \
       '  sysfs: /host/sys' \
       'state_directory: /var/lib/host-anomaly-exporter' \
       > /etc/host-anomaly-exporter/config.yaml \
    && /opt/venv/bin/anomaly-agent check-config /etc/host-anomaly-exporter/config.yaml
USER ${UID}:${UID}
WORKDIR /var/lib/host-anomaly-exporter
VOLUME ["/var/lib/host-anomaly-exporter"]
EXPOSE 9840
ENTRYPOINT ["/opt/venv/bin/anomaly-agent", "run", "--config.file=/etc/host-anomaly-exporter/config.yaml"]
