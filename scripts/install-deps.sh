#!/usr/bin/env bash
# Debian packages the test suites need. kubectl comes with the machine image
# (/usr/bin/kubectl and the versioned ones under /usr/lib/google-cloud-sdk/bin).
set -euo pipefail
need=()
for pkg in ca-certificates; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  [ "$(id -u)" = 0 ] || { echo "install as root: ${need[*]}" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
command -v kubectl >/dev/null || { echo "kubectl is required for the end-to-end tests" >&2; exit 1; }
