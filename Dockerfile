# One image for every Cerver process: the five services, the edge's export
# step, the migration Job and the node runtime with its sandboxes' toolchains.
# `make image` builds it with podman (or docker) on a Debian base it makes
# from Debian's own packages, so no registry is needed; BASE takes any
# Debian bookworm image instead (e.g. docker.io/library/debian:bookworm-slim).
ARG BASE=docker.io/library/debian:bookworm-slim
FROM ${BASE}

# The sandboxes' side (as `make system-deps` on a host): bubblewrap,
# slirp4netns and iptables (its egress filter), setpriv, e2fsprogs/mount for
# workspace images, libseccomp, and the system python3 and node they run,
# with the Jupyter kernel. The services' own Python is a venv on the same
# python3 (bookworm's 3.11).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates python3 python3-venv python3-pip \
      bubblewrap slirp4netns iptables util-linux mount e2fsprogs libseccomp2 procps \
      nodejs npm python3-ipykernel python3-jupyter-client python3-matplotlib \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/cerver
# Dependencies first: a change to the code alone reuses this layer.
COPY pyproject.toml README.md ./
# PIP_INDEX_URL: a mirror; the `ca` secret: a CA bundle for a network that
# intercepts TLS (`make image` passes the host's), used here and not kept.
ARG PIP_INDEX_URL=https://pypi.org/simple
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv/bin/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(p['build-system']['requires'] + p['project']['dependencies']))" > /tmp/requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt
COPY proto proto
COPY gen gen
COPY servicekit servicekit
COPY services services
COPY gateway gateway
COPY cli cli
COPY cerver_mcp cerver_mcp
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation -e . \
 && /opt/venv/bin/python -m compileall -q servicekit services gateway cli cerver_mcp gen

ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
# The services run as this user (the manifests say runAsUser: 10001); the
# node runtime runs as root in its privileged pod (deploy/k8s/README.md).
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin cerver
USER 10001
