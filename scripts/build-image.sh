#!/usr/bin/env bash
# Build the execagent image offline from the wheelhouse (`make image` runs `make wheelhouse`
# first): `docker build --network=none`, so no step can reach a registry, with BuildKit, which
# the Dockerfile's bind mounts need.
#   BASE_IMAGE  the base (default execagent-base:bookworm, scripts/ensure-docker.sh makes it)
#   IMAGE       the tag to build (default execagent:latest)
#   DOCKER      the docker client (default: the first on PATH that can build with BuildKit)
#   CONTEXT     the build context (default: the repository), with its Dockerfile and wheelhouse/
set -euo pipefail
cd "${CONTEXT:-$(dirname "$0")/..}"

BASE_IMAGE=${BASE_IMAGE:-execagent-base:bookworm}
IMAGE=${IMAGE:-execagent:latest}

for part in wheelhouse/deps/requirements.txt wheelhouse/project/execagent-*.whl; do
  if [[ ! -e "$part" ]]; then
    echo "The wheelhouse has no $part: run 'make wheelhouse' first (or 'make image')." >&2
    exit 1
  fi
done

# A client with the buildx plugin builds with BuildKit by default. Docker 23 and newer without
# buildx can only use the legacy builder (no RUN --mount); older clients (Debian 12's docker.io
# is 20.10) have BuildKit built in and use it with DOCKER_BUILDKIT=1.
buildkit_client() {
  local candidate major
  if [[ -n "${DOCKER:-}" ]]; then
    echo "$DOCKER"
    return 0
  fi
  while read -r candidate; do
    if "$candidate" buildx version >/dev/null 2>&1; then echo "$candidate"; return 0; fi
    major=$("$candidate" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
    if [[ "$major" =~ ^[0-9]+$ ]] && ((major < 23)); then echo "$candidate"; return 0; fi
  done < <(type -ap docker)
  return 1
}

if ! client=$(buildkit_client); then
  echo "No docker client here can build with BuildKit: install the buildx plugin" \
    "(docker-buildx-plugin) or Debian's docker.io, or set DOCKER to one that can." >&2
  exit 1
fi
echo "building $IMAGE on $BASE_IMAGE with $client (BuildKit, --network=none)"
DOCKER_BUILDKIT=1 exec "$client" build --network=none --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --tag "$IMAGE" --file Dockerfile .
