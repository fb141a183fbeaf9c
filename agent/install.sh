#!/bin/sh
# Installs the kubeflare agent on this host and joins it to the control plane that served this
# script:
#   curl -sfL https://<control-plane>/install.sh | sh -s - --token <join-token>
# Checks the prerequisites, downloads the agent into /usr/local/lib/kubeflare, then starts it as
# the systemd service kubeflare-agent (or, without systemd or with --no-systemd, in the foreground).
set -eu

# The Worker puts its own origin here when it serves the script.
SERVER="${KUBEFLARE_SERVER:-__KUBEFLARE_SERVER__}"
TOKEN="${KUBEFLARE_TOKEN:-}"
NODE_NAME=""
DATA_DIR=""
CONTAINERD_ADDRESS=""
REGISTRIES=""
INSECURE=""
SYSTEMD=yes
INSTALL_DIR="${KUBEFLARE_INSTALL_DIR:-/usr/local/lib/kubeflare}"
UNIT="${KUBEFLARE_UNIT_FILE:-/etc/systemd/system/kubeflare-agent.service}"
BIN_DIR="${KUBEFLARE_BIN_DIR:-/usr/local/bin}"

info() { echo "[kubeflare] $*" >&2; }
fatal() {
  echo "[kubeflare] error: $*" >&2
  exit 1
}

usage() {
  cat <<'EOF'
Usage: curl -sfL https://<control-plane>/install.sh | sh -s - --token <join-token> [options]

  --token T                     join token (npm run token -- create); not needed once joined
  --server URL                  control plane (default: where this script came from)
  --node-name N                 name of this node (default: the host name)
  --data-dir D                  agent state (default: /var/lib/kubeflare-agent)
  --containerd-address A        containerd socket (default: /run/containerd/containerd.sock)
  --registries FILE             registry mirrors and plain-HTTP registries (k3s registries.yaml)
  --insecure-skip-tls-verify    accept the control plane's certificate without checking it
  --no-systemd                  run the agent in the foreground instead of installing a service

Environment: KUBEFLARE_TOKEN, KUBEFLARE_SERVER, KUBEFLARE_INSTALL_DIR (/usr/local/lib/kubeflare),
KUBEFLARE_BIN_DIR (/usr/local/bin: kubeflare-killall.sh, kubeflare-agent-uninstall.sh),
KUBEFLARE_NODE (the node binary to use).
EOF
}

value() {
  [ "$2" -ge 2 ] || fatal "$1 needs a value (see --help)"
}

while [ $# -gt 0 ]; do
  case "$1" in
  --token) value "$1" $# && TOKEN="$2" && shift 2 ;;
  --token=*) TOKEN="${1#*=}" && shift ;;
  --server) value "$1" $# && SERVER="$2" && shift 2 ;;
  --server=*) SERVER="${1#*=}" && shift ;;
  --node-name) value "$1" $# && NODE_NAME="$2" && shift 2 ;;
  --node-name=*) NODE_NAME="${1#*=}" && shift ;;
  --data-dir) value "$1" $# && DATA_DIR="$2" && shift 2 ;;
  --data-dir=*) DATA_DIR="${1#*=}" && shift ;;
  --containerd-address) value "$1" $# && CONTAINERD_ADDRESS="$2" && shift 2 ;;
  --containerd-address=*) CONTAINERD_ADDRESS="${1#*=}" && shift ;;
  --registries) value "$1" $# && REGISTRIES="$2" && shift 2 ;;
  --registries=*) REGISTRIES="${1#*=}" && shift ;;
  --insecure-skip-tls-verify) INSECURE=yes && shift ;;
  --no-systemd) SYSTEMD=no && shift ;;
  -h | --help)
    usage
    exit 0
    ;;
  *) fatal "unknown option $1 (see --help)" ;;
  esac
done

# --- what we were asked to do ---------------------------------------------------------------
case "$SERVER" in
http://* | https://*) SERVER="${SERVER%/}" ;;
*) fatal "no control plane given: pass --server https://<control-plane> (or fetch this script from it)" ;;
esac
if [ -z "$TOKEN" ] && [ ! -f "${DATA_DIR:-/var/lib/kubeflare-agent}/credential.json" ]; then
  fatal "a join token is required: --token <token> (create one on the control plane with: npm run token -- create)"
fi
[ -z "$REGISTRIES" ] || [ -r "$REGISTRIES" ] || fatal "registries file $REGISTRIES is not readable"
# As the agent resolves it; kubeflare-agent-uninstall.sh removes it.
data_dir="${DATA_DIR:-/var/lib/kubeflare-agent}"
case "$data_dir" in
/) fatal "--data-dir / would put the agent's state in the root directory" ;;
/*) ;;
*) data_dir="$(pwd)/$data_dir" ;;
esac

# --- prerequisites ----------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || fatal "run as root (the agent runs containers, network namespaces and nftables): ... | sudo sh -s - ..."

NODE="${KUBEFLARE_NODE:-$(command -v node || true)}"
node_help="install Node.js 20 or newer, e.g. 'apt-get install nodejs' (Debian 13, Ubuntu 24.04) or see https://nodejs.org/en/download"
[ -n "$NODE" ] || fatal "Node.js not found in PATH: $node_help"
node_version="$("$NODE" --version 2>/dev/null || true)"
major="$(echo "$node_version" | sed -n 's/^v\([0-9]*\)\..*/\1/p')"
[ -n "$major" ] && [ "$major" -ge 20 ] || fatal "Node.js ${node_version:-(unknown version)} at $NODE is too old: $node_help"

command -v ctr >/dev/null 2>&1 || fatal "containerd not found (no ctr in PATH): apt-get install containerd runc"
command -v runc >/dev/null 2>&1 || fatal "runc not found in PATH: apt-get install runc"
address="${CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}"
ctr --connect-timeout 5s --address "$address" version >/dev/null 2>&1 ||
  fatal "containerd does not answer on $address: start it (systemctl enable --now containerd) or pass --containerd-address"

cni=""
for dir in /usr/lib/cni /opt/cni/bin; do
  if [ -x "$dir/bridge" ] && [ -x "$dir/host-local" ] && [ -x "$dir/portmap" ] && [ -x "$dir/loopback" ]; then
    cni="$dir"
    break
  fi
done
[ -n "$cni" ] || fatal "CNI plugins (bridge, host-local, portmap, loopback) not found in /usr/lib/cni or /opt/cni/bin: apt-get install containernetworking-plugins"
command -v ip >/dev/null 2>&1 || fatal "ip not found in PATH: apt-get install iproute2"
command -v nft >/dev/null 2>&1 || fatal "nft not found in PATH: apt-get install nftables"

# --- download -----------------------------------------------------------------------------------
bundle="$INSTALL_DIR/kubeflare-agent.mjs"
download="$INSTALL_DIR/.kubeflare-agent.download.mjs" # .mjs: node --check reads it as ESM
mkdir -p "$INSTALL_DIR"
url="$SERVER/agent/kubeflare-agent.mjs"
info "downloading $url"
if command -v curl >/dev/null 2>&1; then
  curl -sSfL ${INSECURE:+-k} -o "$download" "$url" || download_failed=yes
elif command -v wget >/dev/null 2>&1; then
  wget -q ${INSECURE:+--no-check-certificate} -O "$download" "$url" || download_failed=yes
else
  fatal "neither curl nor wget found: apt-get install curl"
fi
if [ "${download_failed:-}" = yes ]; then
  rm -f "$download"
  hint=""
  [ -n "$INSECURE" ] || hint=" (a self-signed certificate? add --insecure-skip-tls-verify)"
  fatal "could not download the agent from $url$hint"
fi
"$NODE" --check "$download" 2>/dev/null || {
  rm -f "$download"
  fatal "$url did not return the agent (is $SERVER a kubeflare control plane?)"
}
mv -f "$download" "$bundle"

# --- killall and uninstall scripts (as k3s-killall.sh and k3s-agent-uninstall.sh) ---------------
mkdir -p "$BIN_DIR"
cat >"$BIN_DIR/kubeflare-killall.sh" <<SCRIPT
#!/bin/sh
# Written by kubeflare's install.sh. Stops the kubeflare agent (its systemd service; stop an agent
# run in the foreground yourself first) and removes its pods' containers, network namespaces and
# IP addresses, and the bridge and nftables table, as k3s-killall.sh does. The control plane
# keeps the pods: the agent runs them again when it starts.
set -eu
[ "\$(id -u)" = 0 ] || { echo "[kubeflare] error: run as root" >&2; exit 1; }
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl stop kubeflare-agent.service 2>/dev/null || true
fi
exec "$NODE" "$bundle" killall --data-dir "$data_dir" --containerd-address "$address"
SCRIPT
cat >"$BIN_DIR/kubeflare-agent-uninstall.sh" <<SCRIPT
#!/bin/sh
# Written by kubeflare's install.sh. Removes the kubeflare agent from this host, as
# k3s-agent-uninstall.sh does: its pods (kubeflare-killall.sh), its systemd service, the agent and
# its data. The Node stays in the cluster until you delete it there.
set -eu
[ "\$(id -u)" = 0 ] || { echo "[kubeflare] error: run as root" >&2; exit 1; }
"$BIN_DIR/kubeflare-killall.sh" || echo "[kubeflare] warning: the pods were not all removed (see above)" >&2
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable kubeflare-agent.service 2>/dev/null || true
  rm -f "$UNIT" "$UNIT.env"
  systemctl daemon-reload
else
  rm -f "$UNIT" "$UNIT.env"
fi
rm -f "$bundle"
rmdir "$INSTALL_DIR" 2>/dev/null || true
rm -rf "$data_dir"
rm -f "$BIN_DIR/kubeflare-killall.sh" "$BIN_DIR/kubeflare-agent-uninstall.sh"
echo "[kubeflare] the agent is removed; delete its Node with: kubectl delete node <name>" >&2
SCRIPT
chmod 755 "$BIN_DIR/kubeflare-killall.sh" "$BIN_DIR/kubeflare-agent-uninstall.sh"
info "installed $BIN_DIR/kubeflare-killall.sh and $BIN_DIR/kubeflare-agent-uninstall.sh"

# --- run ------------------------------------------------------------------------------------------
set -- --server "$SERVER"
[ -z "$TOKEN" ] || set -- "$@" --token "$TOKEN"
[ -z "$NODE_NAME" ] || set -- "$@" --node-name "$NODE_NAME"
[ -z "$DATA_DIR" ] || set -- "$@" --data-dir "$DATA_DIR"
[ -z "$CONTAINERD_ADDRESS" ] || set -- "$@" --containerd-address "$CONTAINERD_ADDRESS"
[ -z "$REGISTRIES" ] || set -- "$@" --registries "$REGISTRIES"
[ -z "$INSECURE" ] || set -- "$@" --insecure-skip-tls-verify

if [ "$SYSTEMD" = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  # The join token goes to a root-only environment file, not into the world-readable unit.
  umask 077
  printf 'KUBEFLARE_TOKEN=%s\n' "$TOKEN" >"$UNIT.env"
  umask 022
  exec_start="\"$NODE\" \"$bundle\""
  while [ $# -gt 0 ]; do
    case "$1" in
    --token) exec_start="$exec_start --token \${KUBEFLARE_TOKEN}" && shift 2 ;;
    *) exec_start="$exec_start \"$1\"" && shift ;;
    esac
  done
  cat >"$UNIT" <<EOF
[Unit]
Description=kubeflare agent (kubelet, proxy and DNS of this node)
Documentation=$SERVER/install.sh
Wants=network-online.target containerd.service
After=network-online.target containerd.service

[Service]
Type=simple
EnvironmentFile=-$UNIT.env
# One malloc arena: the agent's native memory stays ~3 MB smaller after bursts of pod starts.
Environment=MALLOC_ARENA_MAX=1
ExecStart=$exec_start
Restart=always
RestartSec=5s
# Containers live under containerd's shims, outside this unit: stopping the agent stops no pod.
KillMode=mixed
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
EOF
  systemctl daemon-reload
  systemctl enable kubeflare-agent.service >/dev/null 2>&1
  systemctl restart kubeflare-agent.service
  info "kubeflare-agent is running as a systemd service; follow it with: journalctl -u kubeflare-agent -f"
  exit 0
fi

info "starting the agent in the foreground"
MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-1}" exec "$NODE" "$bundle" "$@"
