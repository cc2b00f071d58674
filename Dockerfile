# The execagent image: `execagent run` (the service) or `execagent venue` (the simulated FIX
# venue); docker-compose.yml runs both.
#
# It builds offline, from a wheelhouse made on the host (`make wheelhouse`: the project's wheel,
# its hot-path modules compiled with mypyc, and a wheel of every runtime dependency, quickfix
# included), as an air-gapped trading network would: every pip install here is --no-index, and
# `make image` builds with --network=none, so a wheel missing from the wheelhouse fails the
# build at once with pip naming the package. Needs BuildKit (the wheels are bind-mounted, never
# copied into a layer).
#
#   make image                                   on the local base (scripts/ensure-docker.sh)
#   make wheelhouse && docker build .            on python:3.11-slim-bookworm, from a registry
#
# BASE_IMAGE: any Debian 12 (glibc 2.36, libstdc++ 12) with Python 3.11 and its venv module,
# the platform the wheelhouse's compiled wheels (quickfix, execagent) are built for on the host.
# No compiler, no torch (inference is onnxruntime; the `train` extra stays out), no network.
# Checked without an engine by tests/unit/test_container_files.py; built and run by
# tests/e2e/test_container.py.

ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
# PATH spelled out: an imported base image (docker import) has none of its own to extend.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INDEX=1 \
    VIRTUAL_ENV=/opt/execagent \
    PATH=/opt/execagent/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The runtime dependencies first, in a layer of their own: it stays cached while only the
# project's code changes. A virtual environment, so the image has `python` whichever Python the
# base ships (Debian's is python3 only, and refuses pip installs into itself).
# wheelhouse/deps/requirements.txt is pyproject.toml's [project] dependencies.
RUN --mount=type=bind,source=wheelhouse/deps,target=/wheels/deps \
    python3 -m venv /opt/execagent \
    && pip install --no-index --find-links=/wheels/deps -r /wheels/deps/requirements.txt \
    && groupadd --system --gid 10001 execagent \
    && useradd --system --uid 10001 --gid execagent --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin execagent
# The configuration's relative paths (deploy/risk/limits.demo.yaml, models/artifacts/policy.onnx,
# var/...) resolve against /app. Configuration and model stay owned by root (read-only for the
# service); only var/ (FIX sequence numbers, session logs) is writable, and compose mounts a
# volume there.
WORKDIR /app
COPY deploy ./deploy
COPY models/artifacts/policy.onnx ./models/artifacts/policy.onnx
# The project's wheel last. Its dependencies are installed above: pip only checks them, and
# fails naming one that is not. The build fails if the CLI cannot start (a native library
# missing from the base) or if torch got in.
RUN --mount=type=bind,source=wheelhouse/project,target=/wheels/project \
    pip install --no-index /wheels/project/execagent-*.whl \
    && execagent --help >/dev/null \
    && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)" \
    && mkdir -p var && chown execagent:execagent var
USER execagent:execagent
# 8080: the service's API (/healthz, /readyz, /metrics, /api/v1); 9878: the venue's FIX acceptor.
EXPOSE 8080 9878
# Liveness of `execagent run`: /healthz on its API port (EXECAGENT_API__PORT when set). The
# venue serves no HTTP: docker-compose.yml gives it a check of its own.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('EXECAGENT_API__PORT', '8080') + '/healthz', timeout=2)"]
ENTRYPOINT ["execagent"]
CMD ["run", "--config", "deploy/compose/service.yaml"]
