#!/usr/bin/env bash
# Make sure `promtool` and `prometheus` are on PATH, for the alert-rule tests and the monitoring
# end-to-end test (both come from Debian's `prometheus` package).
# Order: both found -> done; root with apt-get -> install the package without starting its
# system service (the tests start their own server on a free port); otherwise say what to run.
set -euo pipefail

have_both() { command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; }

if have_both; then exit 0; fi
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing prometheus (promtool) with apt-get"
  # invoke-rc.d asks policy-rc.d whether it may start a service: 101 means no. Only put one in
  # place (and take it away again) when the machine has none of its own.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus \
    >/dev/null
  if have_both; then exit 0; fi
  echo "apt-get installed prometheus but promtool or prometheus is still not on PATH" >&2
  exit 1
fi
cat >&2 <<MSG
promtool and prometheus are needed for the monitoring tests and this script cannot install
them (not root, or no apt-get). Install Debian's or Ubuntu's package, then run 'make test'
again:
  sudo apt-get install prometheus
or put the binaries from a Prometheus release on PATH.
MSG
exit 1
