# syntax=docker/dockerfile:1
# The execagent image: `execagent run` (the service) or `execagent venue` (the simulated FIX
# venue); docker-compose.yml runs both. Build: `docker build -t execagent:0.1.0 .`
#
# Two stages. The builder compiles quickfix (C++, about 6 minutes; its layer stays cached while
# the project's code changes) and builds the wheels of execagent (its hot-path modules compiled
# with mypyc: setup.py, native-modules.txt) and of its runtime dependencies. The runtime stage installs those wheels with no compiler and no network, and
# without the `train` extra: the service runs the ONNX policy with onnxruntime, no torch.
# Checked without a Docker engine by tests/unit/test_container_files.py.

FROM python:3.11-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The same requirement as pyproject.toml's (the test checks they agree).
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir=/wheels "quickfix>=1.15.1"
COPY pyproject.toml setup.py native-modules.txt MANIFEST.in README.md ./
COPY core ./core
COPY service ./service
COPY gateways ./gateways
COPY models ./models
COPY risk ./risk
COPY sim ./sim
# execagent's wheel (models/artifacts/policy.onnx and sim/params/*.json ship as package data)
# and every runtime dependency's; quickfix comes from the wheel built above.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir=/wheels --find-links=/wheels .

FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# Only the runtime dependencies, from the builder's wheels (mounted, not copied into a layer).
# The build fails if quickfix, onnxruntime or the CLI cannot be imported, or if torch got in.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels execagent \
    && python -c "import quickfix, onnxruntime, service.cli" \
    && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
RUN groupadd --system --gid 10001 execagent \
    && useradd --system --uid 10001 --gid execagent --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin execagent
# The configuration's relative paths (deploy/risk/limits.demo.yaml, models/artifacts/*.onnx,
# var/...) resolve against /app. Configuration and model stay owned by root (read-only for the
# service); only var/ (FIX sequence numbers, session logs) is writable, and compose mounts a
# volume there.
WORKDIR /app
COPY deploy ./deploy
COPY models/artifacts/policy.onnx models/artifacts/signal.onnx ./models/artifacts/
RUN mkdir -p var && chown execagent:execagent var
USER execagent:execagent
# 8080: the service's API (/healthz, /readyz, /metrics, /api/v1); 9878: the venue's FIX acceptor.
EXPOSE 8080 9878
# Liveness of `execagent run`: /healthz on its API port (EXECAGENT_API__PORT when set). The
# venue serves no HTTP: docker-compose.yml gives it a check of its own.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('EXECAGENT_API__PORT', '8080') + '/healthz', timeout=2)"]
ENTRYPOINT ["execagent"]
CMD ["run", "--config", "deploy/compose/service.yaml"]
