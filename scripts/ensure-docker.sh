#!/usr/bin/env bash
# Make sure a Docker engine answers and the local base image exists, for `make image` and the
# container test (tests/e2e/test_container.py).
#
#   scripts/ensure-docker.sh          the engine, and the base image named by BASE_IMAGE
#   scripts/ensure-docker.sh --ops    also the image the compose `offline` profile runs Redis
#                                     and Prometheus from (OPS_IMAGE)
#
# Compose: installs Debian's docker-compose when no compose command is found and it can.
# Engine. Order: one answers -> done; dockerd installed and root -> start it; root with apt-get
# -> install Debian's docker.io, then start it; otherwise one line saying what to run. It is
# started as `dockerd --iptables=false --bridge=none`: containers run on the host's network or
# on none (no bridge, no NAT rules to manage), and dockerd picks its storage driver (overlay2
# where the kernel allows it, vfs otherwise). It keeps running after this script: images and
# the build cache stay in /var/lib/docker either way.
#
# Base image. Without an image registry python:3.11-slim cannot be pulled, so the local base is
# Debian 12 with Debian's Python 3.11, made by debootstrap (from Debian's package archive) and
# `docker import`, once: it stays in the engine's storage. Only names starting with
# "execagent-base" are made here; any other BASE_IMAGE (python:3.11-slim-bookworm, a mirror's
# copy) is the registry's business and `docker build` pulls it.
set -euo pipefail

DOCKER=${DOCKER:-docker}
BASE_IMAGE=${BASE_IMAGE:-execagent-base:bookworm}
OPS_IMAGE=${OPS_IMAGE:-execagent-ops:bookworm}
SUITE=bookworm                     # Debian 12: Python 3.11, glibc 2.36, like python:3.11-slim-bookworm
DOCKERD_LOG=${DOCKERD_LOG:-/tmp/execagent-dockerd.log}
with_ops=0
for arg in "$@"; do
  case "$arg" in
    --ops) with_ops=1 ;;
    *) echo "usage: $0 [--ops]" >&2; exit 2 ;;
  esac
done

# dockerd lives in /usr/sbin, which a user's PATH often lacks.
dockerd_path() {
  command -v dockerd 2>/dev/null || { [[ -x /usr/sbin/dockerd ]] && echo /usr/sbin/dockerd; }
}

answers() { "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
is_root() { [[ "$(id -u)" == 0 ]]; }

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

start_engine() {
  echo "starting dockerd (log: $DOCKERD_LOG)"
  # setsid: the engine outlives this script and the make that ran it.
  setsid "$(dockerd_path)" --iptables=false --bridge=none >"$DOCKERD_LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do answers && return 0; sleep 0.5; done
  echo "dockerd started but does not answer; see $DOCKERD_LOG" >&2
  return 1
}

ensure_engine() {
  if answers; then return 0; fi
  if ! command -v "$DOCKER" >/dev/null 2>&1 || [[ -z "$(dockerd_path)" ]]; then
    if is_root && command -v apt-get >/dev/null 2>&1; then
      echo "installing docker.io with apt-get"
      apt_install docker.io
    else
      echo "No Docker engine answers and this script cannot install one (not root, or no" \
        "apt-get): run 'sudo apt-get install docker.io && sudo dockerd --iptables=false" \
        "--bridge=none &' (or start your Docker engine), then run this again." >&2
      return 1
    fi
  fi
  if [[ -S /var/run/docker.sock ]] && ! is_root; then
    echo "A Docker engine runs but this user may not use it: add yourself to the docker group" \
      "('sudo usermod -aG docker $USER', then log in again) or run as root." >&2
    return 1
  fi
  if ! is_root; then
    echo "No Docker engine answers and only root can start one: run" \
      "'sudo dockerd --iptables=false --bridge=none &', then run this again." >&2
    return 1
  fi
  start_engine
}

# docker-compose.yml is checked with `docker compose config` (tests/e2e/test_container.py): the
# compose plugin, or else Debian's docker-compose (1.29: profiles, no top-level name).
ensure_compose() {
  if "$DOCKER" compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; then
    return 0
  fi
  if is_root && command -v apt-get >/dev/null 2>&1; then
    echo "installing docker-compose with apt-get"
    apt_install docker-compose
    return 0
  fi
  echo "note: neither 'docker compose' nor docker-compose is installed: 'sudo apt-get install" \
    "docker-compose' to validate or run docker-compose.yml" >&2
}

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# make_rootfs_image NAME PACKAGES: Debian with PACKAGES, as the image NAME.
make_rootfs_image() {
  local name=$1 packages=$2 root
  if ! command -v debootstrap >/dev/null 2>&1; then
    if is_root && command -v apt-get >/dev/null 2>&1; then
      echo "installing debootstrap with apt-get"
      apt_install debootstrap
    else
      echo "The image $name is missing and debootstrap is not installed: run" \
        "'sudo apt-get install debootstrap', then run this again as root." >&2
      return 1
    fi
  fi
  if ! is_root; then
    echo "The image $name is missing and debootstrap needs root: run 'sudo $0'." >&2
    return 1
  fi
  root=$(mktemp -d /tmp/execagent-rootfs.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  echo "making $name: debootstrap $SUITE with $packages (about a minute)"
  if ! debootstrap --variant=minbase --include="$packages" "$SUITE" "$root" \
      >"$root.log" 2>&1; then
    echo "debootstrap failed; see $root.log" >&2
    return 1
  fi
  rm -f "$root.log"
  # What an image never uses: downloaded packages, package lists, documentation, translations.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/info "$root"/usr/share/locale
  tar -C "$root" -c . | "$DOCKER" import --change 'ENV LANG=C.UTF-8' \
    --message "debootstrap --variant=minbase --include=$packages $SUITE" - "$name" >/dev/null
  echo "made $name"
}

ensure_engine
ensure_compose
case "$BASE_IMAGE" in
  execagent-base*)
    have_image "$BASE_IMAGE" || make_rootfs_image "$BASE_IMAGE" python3,python3-venv ;;
esac
if [[ "$with_ops" == 1 ]] && ! have_image "$OPS_IMAGE"; then
  # Debian 12 minbase, as the local base, with Debian's Redis and Prometheus, which an offline network cannot
  # pull as redis:7 or prom/prometheus.
  make_rootfs_image "$OPS_IMAGE" redis-server,prometheus
fi
