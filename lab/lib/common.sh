# Shared helpers for the lab scripts. Sourced, never run.
# Everything the lab starts lives under LAB_DIR (outside git); slow artefacts under CACHE_DIR.
set -euo pipefail

LAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$LAB_ROOT/.." && pwd)"
LAB_DIR="${DCAGENT_LAB_DIR:-/var/lib/dcagent-lab}"
CACHE_DIR="${DCAGENT_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dcagent-lab}"
ENV_FILE="$LAB_ROOT/lab.env"

# Loopback ports; one place to change them.
PG_PORT=5432
REDIS_PORT=6379
NETBOX_PORT=8001
ZBX_WEB_PORT=8081
ZBX_SERVER_PORT=10051
ZBX_AGENT_PORT=10050
ZBX7_WEB_PORT=8082      # Zabbix 7.0 beside 6.0 (lib/zabbix7.sh)
ZBX7_SERVER_PORT=10061
DNS_PORT=5353
SERVER_SSH_PORT=2222
SWITCHES=(tor-btm-01:2201 tor-btm-02:2202 tor-sbw-01:2203)
SWITCH_ACCESS_PORTS=48

NETBOX_VERSION=4.7.3
NETBOX_VENV="$LAB_DIR/netbox-venv"
NETBOX_ROOT_DIR="$LAB_DIR/netbox"
export NETBOX_ROOT="$NETBOX_ROOT_DIR"
export PHP_CLI_SERVER_WORKERS=4

_t0=$(date +%s)
say() { printf '[lab %4ss] %s\n' "$(( $(date +%s) - _t0 ))" "$*"; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

find_python312() {
  for p in "${DCAGENT_PYTHON:-}" /root/.pyenv/versions/3.12.1/bin/python3 "$(command -v python3.12 || true)"; do
    if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  die "Python >= 3.12 not found (set DCAGENT_PYTHON)"
}

# Wait until a TCP port on 127.0.0.1 accepts connections (bounded).
wait_port() {
  local port=$1 what=$2 tries=${3:-120}
  for _ in $(seq "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  die "$what did not open 127.0.0.1:$port"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Run a command detached in its own process group, recording its pgid for lab/down.
start_daemon() {
  local name=$1; shift
  mkdir -p "$LAB_DIR/run" "$LAB_DIR/log"
  setsid "$@" >>"$LAB_DIR/log/$name.log" 2>&1 < /dev/null &
  echo $! > "$LAB_DIR/run/$name.pgid"
}

stop_group() {
  local name=$1 f="$LAB_DIR/run/$1.pgid"
  [ -f "$f" ] || return 0
  local pgid; pgid=$(cat "$f")
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  rm -f "$f"
}

# Stop the daemon whose pid is in FILE: TERM, wait (bounded), then KILL. Daemons that fork workers
# (zabbix_server) take seconds to shut down; leaving one behind would hold its port for the next lab/up.
stop_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || { rm -f "$f"; return 1; }
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}
