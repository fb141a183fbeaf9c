#!/usr/bin/env bash
# Debian packages the test suites need. kubectl comes with the machine image
# (/usr/bin/kubectl and the versioned ones under /usr/lib/google-cloud-sdk/bin).
# The agent's end-to-end tests run real containers: containerd, runc and the CNI plugins, iptables,
# nftables and iproute2 for the pod network, a registry on loopback (docker-registry), skopeo to
# push the test image and busybox-static as its only binary; curl fetches install.sh, whose
# systemd unit systemd-analyze checks; procps for pgrep.
set -euo pipefail
need=()
for pkg in ca-certificates curl containerd runc containernetworking-plugins iptables nftables \
  iproute2 docker-registry skopeo busybox-static systemd procps; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  [ "$(id -u)" = 0 ] || {
    echo "install as root: ${need[*]}" >&2
    exit 1
  }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# The package starts a registry on :5000 with its own storage; the tests run their own registry
# on a free loopback port, so keep the system one stopped and disabled.
if [ "$(id -u)" = 0 ]; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
  else
    /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
    update-rc.d docker-registry disable >/dev/null 2>&1 || true
  fi
fi

command -v kubectl >/dev/null || {
  echo "kubectl is required for the end-to-end tests" >&2
  exit 1
}
