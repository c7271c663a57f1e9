# ---------------------------------------------------------------- Zabbix 7.0 beside 6.0 (issue 35, decision 0020)
# Sourced by lab/up, lab/down and lab/status after common.sh (and services.sh for secret/ensure_db/psql_admin).
#
# Debian's 6.0 and bookworm-backports' 7.0 have the same package names: installing 7.0 would replace 6.0. So 7.0's
# packages are fetched with apt (its own signature and hash checks) but through a private apt state that knows only
# bookworm-backports and touches neither /etc/apt nor /var/lib/apt, pinned to one version, cached in CACHE_DIR, and
# unpacked with `dpkg -x` into ZBX7_ROOT. Nothing 7.0 is installed on the system: its server binary runs from that
# folder (with the two libevent libraries 6.0 does not need, unpacked beside it), its frontend is served by
# `php -S` from that folder, with its own database, server port, API port, pid/log/socket dirs and API token.
ZBX7_VERSION="1:7.0.9+dfsg-1~bpo12+1"
ZBX7_PACKAGES=(zabbix-server-pgsql zabbix-frontend-php)
# The apt source 7.0 comes from. When Debian publishes a newer backport the pinned version leaves this suite; point
# it at a snapshot then, e.g.
#   DCAGENT_LAB_ZABBIX7_APT='deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg check-valid-until=no]
#     http://snapshot.debian.org/archive/debian/20250301T000000Z bookworm-backports main'
ZBX7_APT="${DCAGENT_LAB_ZABBIX7_APT:-deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main}"
# 7.0's server links libevent_extra and libevent_pthreads (6.0's does not); the build of the installed libevent-core.
ZBX7_LIBS=(libevent-extra-2.1-7 libevent-pthreads-2.1-7)
ZBX7_CACHE="$CACHE_DIR/zabbix-${ZBX7_VERSION#*:}"   # the verified .debs (and the private apt state)
ZBX7_DIR="$LAB_DIR/zabbix7"
ZBX7_ROOT="$ZBX7_DIR/root"                        # the unpacked packages
ZBX7_WEB_ROOT="$ZBX7_ROOT/usr/share/zabbix"
ZBX7_SERVER_BIN="$ZBX7_ROOT/usr/sbin/zabbix_server"
ZBX7_LD_PATH="$ZBX7_ROOT/usr/lib/x86_64-linux-gnu"
ZBX7_CONF="$ZBX7_DIR/zabbix_server.conf"
ZBX7_WEB_CONF="$ZBX7_DIR/zabbix.conf.php"
ZBX7_TOKEN_FILE="$LAB_DIR/secrets/zabbix7-token"
ZBX7_DB=zabbix7

_zbx7_clock() { echo "$EPOCHREALTIME"; }
_zbx7_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# apt with its own sources, lists and archives under ZBX7_CACHE/apt: the system's apt state is never touched. The
# cache is usually under /root (mode 0700), out of reach of apt's sandbox user _apt: apt downloads as root here.
_zbx7_apt_opts() {
  local a="$ZBX7_CACHE/apt"
  ZBX7_APT_OPTS=(-q -o Dir::Etc::SourceList="$a/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$a/lists" -o Dir::Cache="$a/cache" -o APT::Architectures::=amd64
    -o Acquire::Languages=none -o Acquire::http::Timeout=30 -o APT::Sandbox::User=root)
}

# The .debs, downloaded once (apt checks the InRelease signature against Debian's archive keyring, the Packages
# index's SHA256 and each .deb's SHA256) and recorded in SHA256SUMS; a later run re-checks the cache against it.
zabbix7_fetch() {
  if [ -s "$ZBX7_CACHE/SHA256SUMS" ] && (cd "$ZBX7_CACHE" && timeout 60 sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1); then
    return 0
  fi
  local t; t=$(_zbx7_clock)
  say "zabbix 7.0: downloading ${ZBX7_PACKAGES[*]} $ZBX7_VERSION (bookworm-backports, private apt state)"
  rm -rf "$ZBX7_CACHE/stage"
  mkdir -p "$ZBX7_CACHE/apt/lists/partial" "$ZBX7_CACHE/apt/cache/archives/partial"
  printf '%s\n' "$ZBX7_APT" > "$ZBX7_CACHE/apt/sources.list"
  mkdir -p "$ZBX7_CACHE/stage"
  _zbx7_apt_opts
  timeout 180 apt-get "${ZBX7_APT_OPTS[@]}" update >/dev/null || die "zabbix 7.0: apt-get update of '$ZBX7_APT' failed"
  local pkgs=() p v
  for p in "${ZBX7_PACKAGES[@]}"; do pkgs+=("$p=$ZBX7_VERSION"); done
  (cd "$ZBX7_CACHE/stage" && timeout 600 apt-get "${ZBX7_APT_OPTS[@]}" download "${pkgs[@]}" >/dev/null) \
    || die "zabbix 7.0: $ZBX7_VERSION not downloadable from '$ZBX7_APT' (a newer backport replaced it? set DCAGENT_LAB_ZABBIX7_APT to a snapshot.debian.org source, see lab/lib/zabbix7.sh)"
  # The libevent libraries from the system's own apt lists, the exact build of the libevent-core installed here.
  v=$(dpkg-query -W -f='${Version}' libevent-core-2.1-7) || die "zabbix 7.0: libevent-core-2.1-7 is not installed"
  pkgs=(); for p in "${ZBX7_LIBS[@]}"; do pkgs+=("$p=$v"); done
  (cd "$ZBX7_CACHE/stage" && timeout 300 apt-get -q -o Acquire::http::Timeout=30 -o APT::Sandbox::User=root download "${pkgs[@]}" >/dev/null) \
    || die "zabbix 7.0: cannot download ${pkgs[*]} (run apt-get update?)"
  rm -f "$ZBX7_CACHE"/*.deb
  mv "$ZBX7_CACHE"/stage/*.deb "$ZBX7_CACHE/"; rm -rf "$ZBX7_CACHE/stage"
  (cd "$ZBX7_CACHE" && sha256sum -- *.deb > SHA256SUMS)
  say "zabbix 7.0: downloaded $(du -cb "$ZBX7_CACHE"/*.deb | awk 'END { printf "%.1f MB", $1 / 1e6 }') in $(_zbx7_since "$t") s"
}

# Unpack once per version into ZBX7_ROOT. Debian's 7.0 frontend reads its configuration from a path compiled into
# CConfigFile.php (/etc/zabbix/zabbix.conf.php, 6.0's file): the unpacked copy is pointed at ZBX7_WEB_CONF instead.
zabbix7_unpack() {
  local marker="$ZBX7_ROOT/.unpacked"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$ZBX7_VERSION $(sha256sum < "$ZBX7_CACHE/SHA256SUMS")" ]; then
    return 0
  fi
  local t tmp="$ZBX7_DIR/root.tmp" deb
  t=$(_zbx7_clock)
  rm -rf "$tmp"; mkdir -p "$tmp"
  for deb in "$ZBX7_CACHE"/*.deb; do timeout 120 dpkg -x "$deb" "$tmp"; done
  local cfg="$tmp/usr/share/zabbix/include/classes/core/CConfigFile.php"
  sed -i "s|const CONFIG_FILE_PATH = '/etc/zabbix/zabbix.conf.php';|const CONFIG_FILE_PATH = '$ZBX7_WEB_CONF';|" "$cfg"
  grep -qF "const CONFIG_FILE_PATH = '$ZBX7_WEB_CONF';" "$cfg" \
    || die "zabbix 7.0: cannot point the frontend at $ZBX7_WEB_CONF (CConfigFile.php changed?)"
  # The font links are relative to /usr/share; here they would dangle (graphs only).
  local f; for f in "$tmp/usr/share/zabbix/fonts/DejaVuSans.ttf" "$tmp/usr/share/zabbix/assets/fonts/DejaVuSans.ttf"; do
    [ -L "$f" ] && ln -sfn /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf "$f"
  done
  local missing; missing=$(LD_LIBRARY_PATH="$tmp/usr/lib/x86_64-linux-gnu" timeout 30 ldd "$tmp/usr/sbin/zabbix_server" | grep 'not found' || true)
  [ -z "$missing" ] || die "zabbix 7.0: zabbix_server misses libraries: $missing"
  echo "$ZBX7_VERSION $(sha256sum < "$ZBX7_CACHE/SHA256SUMS")" > "$tmp/.unpacked"
  rm -rf "$ZBX7_ROOT"; mv "$tmp" "$ZBX7_ROOT"
  say "zabbix 7.0: unpacked into $ZBX7_ROOT ($(du -sh "$ZBX7_ROOT" | cut -f1)) in $(_zbx7_since "$t") s"
}

# Small process counts: PostgreSQL's connections are shared by 6.0, 7.0, NetBox and the tests (every server
# process but a few holds one). CacheUpdateFrequency=2 as for 6.0 (new hosts and items live within seconds).
write_zabbix7_config() {
  mkdir -p "$ZBX7_DIR/run" "$ZBX7_DIR/log"
  chown -R zabbix:zabbix "$ZBX7_DIR/run" "$ZBX7_DIR/log"
  local pw; pw=$(secret pg-zabbix7)
  cat > "$ZBX7_CONF.tmp" <<CONF
# Written by dcagent lab/up (lab/lib/zabbix7.sh): Zabbix $ZBX7_VERSION beside 6.0.
ListenIP=127.0.0.1
ListenPort=$ZBX7_SERVER_PORT
SourceIP=127.0.0.1
LogFile=$ZBX7_DIR/log/zabbix_server.log
PidFile=$ZBX7_DIR/run/zabbix_server.pid
SocketDir=$ZBX7_DIR/run
DBHost=127.0.0.1
DBPort=$PG_PORT
DBName=$ZBX7_DB
DBUser=zabbix7
DBPassword=$pw
StartPollers=2
StartAgentPollers=1
StartHTTPAgentPollers=1
StartSNMPPollers=1
StartPollersUnreachable=1
StartPingers=1
StartTrappers=2
StartDiscoverers=1
StartHTTPPollers=1
StartPreprocessors=2
StartLLDProcessors=1
StartHistoryPollers=1
StartDBSyncers=1
StartAlerters=1
StartEscalators=1
StartTimers=1
StartODBCPollers=0
StartBrowserPollers=0
StartReportWriters=0
CacheUpdateFrequency=2
Timeout=4
FpingLocation=/usr/bin/fping
LogSlowQueries=3000
CONF
  chmod 640 "$ZBX7_CONF.tmp"; chgrp zabbix "$ZBX7_CONF.tmp"; mv "$ZBX7_CONF.tmp" "$ZBX7_CONF"
  write_zabbix_web_conf "$ZBX7_WEB_CONF" "$ZBX7_DB" zabbix7 "$pw" "$ZBX7_SERVER_PORT" 'dcagent lab (7.0)'
}

_zbx7_psql() { PGPASSWORD="$(secret pg-zabbix7)" timeout "$1" psql -q -h 127.0.0.1 -p "$PG_PORT" -U zabbix7 "$ZBX7_DB" -v ON_ERROR_STOP=1 "${@:2}"; }

# Its own database and role. The import is done when data.sql (the last file, one transaction) committed: a
# database holding only part of it (an interrupted run) is dropped and imported again.
zabbix7_db() {
  ensure_db "$ZBX7_DB" zabbix7 "$(secret pg-zabbix7)" >/dev/null
  if [ -n "$(psql_admin -d "$ZBX7_DB" -c "SELECT 1 FROM pg_tables WHERE tablename='users'")" ]; then
    [ -n "$(psql_admin -d "$ZBX7_DB" -c "SELECT 1 FROM users WHERE username='Admin'")" ] && return 0
    say "zabbix 7.0: database $ZBX7_DB holds a partial import: importing again"
    timeout 60 runuser -u postgres -- dropdb -p "$PG_PORT" "$ZBX7_DB"
    ensure_db "$ZBX7_DB" zabbix7 "$(secret pg-zabbix7)" >/dev/null
  fi
  local t; t=$(_zbx7_clock)
  local d="$ZBX7_ROOT/usr/share/zabbix-server-pgsql"
  zcat "$d/schema.sql.gz" "$d/images.sql.gz" "$d/data.sql.gz" | _zbx7_psql 300 >/dev/null \
    || die "zabbix 7.0: schema import into $ZBX7_DB failed"
  local imported; imported=$(_zbx7_since "$t")
  # Without planner statistics a host.create linking a template can take minutes (LAB-NOTES, 6.0).
  timeout 120 runuser -u postgres -- psql -p "$PG_PORT" -qAt -d "$ZBX7_DB" -c "VACUUM (ANALYZE)"
  say "zabbix 7.0: schema imported into $ZBX7_DB in $imported s, VACUUM (ANALYZE) done at $(_zbx7_since "$t") s"
}

# One JSON-RPC call to 7.0's API; a token (or a session id) goes in the Authorization header (7.0 also takes
# `auth` in the body, 7.2 no longer does).
zbx7_api() {  # zbx7_api METHOD PARAMS_JSON [TOKEN]
  local auth=${3:-}
  local body="{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":$2,\"id\":1}"
  # The token goes to curl through a pipe (printf is a builtin), never in its arguments, which anyone can read.
  printf '%s' "$body" | curl -sf --max-time 30 -H 'Content-Type: application/json-rpc' \
    ${auth:+-H @<(printf 'Authorization: Bearer %s\n' "$auth")} -d @- "http://127.0.0.1:$ZBX7_WEB_PORT/api_jsonrpc.php"
}

zabbix7_token() {
  if [ -s "$ZBX7_TOKEN_FILE" ] && zbx7_api host.get '{"limit":1}' "$(cat "$ZBX7_TOKEN_FILE")" | grep -q '"result"'; then
    return 0
  fi
  local sid; sid=$(zbx7_api user.login '{"username":"Admin","password":"zabbix"}' | json_get 'd["result"]') \
    || die "zabbix 7.0: cannot log in as Admin"
  local name; name="dcagent-lab-$(date +%s)"
  local tid; tid=$(zbx7_api token.create "{\"name\":\"$name\",\"userid\":\"1\"}" "$sid" | json_get 'd["result"]["tokenids"][0]') \
    || die "zabbix 7.0: token.create failed"
  mkdir -p "$(dirname "$ZBX7_TOKEN_FILE")"
  (umask 077; zbx7_api token.generate "[\"$tid\"]" "$sid" | json_get 'd["result"][0]["token"]' | tr -d '\n' > "$ZBX7_TOKEN_FILE")
  [ -s "$ZBX7_TOKEN_FILE" ] || die "zabbix 7.0: token.generate failed"
  zbx7_api user.logout '[]' "$sid" >/dev/null || true
  say "zabbix 7.0: created API token $name"
}

zabbix7_web_start() {
  if ! port_open "$ZBX7_WEB_PORT"; then
    PHP_CLI_SERVER_WORKERS=4 start_daemon zabbix7-web php -d opcache.enable_cli=1 -d memory_limit=256M \
      -d post_max_size=16M -d max_execution_time=300 -S "127.0.0.1:$ZBX7_WEB_PORT" -t "$ZBX7_WEB_ROOT"
    wait_port "$ZBX7_WEB_PORT" "zabbix 7.0 frontend"
  fi
}

zabbix7_server_running() { [ -f "$ZBX7_DIR/run/zabbix_server.pid" ] && kill -0 "$(cat "$ZBX7_DIR/run/zabbix_server.pid")" 2>/dev/null; }

up_zabbix7() {
  local t; t=$(_zbx7_clock)
  zabbix7_fetch
  zabbix7_unpack
  write_zabbix7_config
  zabbix7_db
  if ! zabbix7_server_running; then
    say "zabbix 7.0: starting server"
    LD_LIBRARY_PATH="$ZBX7_LD_PATH" timeout 60 "$ZBX7_SERVER_BIN" -c "$ZBX7_CONF" \
      || die "zabbix 7.0: server did not start (see $ZBX7_DIR/log/zabbix_server.log)"
  fi
  zabbix7_web_start
  wait_port "$ZBX7_SERVER_PORT" "zabbix 7.0 server" 60
  zabbix7_token
  local v; v=$(zbx7_api apiinfo.version '{}' | json_get 'd["result"]')
  say "zabbix 7.0: $v up in $(_zbx7_since "$t") s (API http://127.0.0.1:$ZBX7_WEB_PORT, server :$ZBX7_SERVER_PORT)"
}

# lab/down: the server (TERM, bounded wait, KILL); the frontend is a start_daemon group lab/down stops with the rest.
down_zabbix7() {
  stop_pidfile "$ZBX7_DIR/run/zabbix_server.pid" && say "stopped zabbix_server (7.0)"
  # Workers of a server whose pid file is gone (an interrupted run): the processes of 7.0's binary, by its path.
  local p; for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = "$ZBX7_SERVER_BIN" ] && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  return 0
}
