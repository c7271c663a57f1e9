# Lab services: each `up_X` is idempotent (starts what is not running, creates what is missing).
# Sourced by lab/up after common.sh.

SECRETS="$LAB_DIR/secrets"

# A random secret, generated once and kept under LAB_DIR/secrets (mode 0600).
secret() {
  local name=$1 len=${2:-40}
  mkdir -p "$SECRETS"; chmod 700 "$SECRETS"
  if [ ! -s "$SECRETS/$name" ]; then
    (umask 077; "$(find_python312)" -c "import secrets,sys; sys.stdout.write(secrets.token_hex($len)[:$len])" > "$SECRETS/$name")
  fi
  cat "$SECRETS/$name"
}

psql_admin() { runuser -u postgres -- psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -qAt "$@"; }

ensure_db() {  # ensure_db NAME OWNER PASSWORD -> prints "created" when the database is new
  local db=$1 owner=$2 pw=$3
  if [ -z "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname='$owner'")" ]; then
    psql_admin -c "CREATE ROLE $owner LOGIN PASSWORD '$pw'"
  else
    psql_admin -c "ALTER ROLE $owner PASSWORD '$pw'"
  fi
  if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname='$db'")" ]; then
    psql_admin -c "CREATE DATABASE $db OWNER $owner"
    echo created
  fi
}

up_postgres() {
  if ! port_open "$PG_PORT"; then
    say "postgresql: starting cluster 15/main"
    # The cluster listens on localhost only (Debian default); allow enough connections for all services.
    pg_conftool 15 main set max_connections 200 >/dev/null 2>&1 || true
    # A lab database: durability traded for speed (NetBox's migrations commit thousands of times).
    for kv in "fsync off" "synchronous_commit off" "full_page_writes off"; do
      pg_conftool 15 main set $kv >/dev/null 2>&1 || true
    done
    pg_ctlcluster 15 main start
    wait_port "$PG_PORT" postgresql
  fi
  # The dcagent run store's PostgreSQL tests use their own database.
  ensure_db dcagent dcagent "$(secret pg-dcagent)" >/dev/null
  say "postgresql: up on 127.0.0.1:$PG_PORT"
}

up_redis() {
  if ! port_open "$REDIS_PORT"; then
    mkdir -p "$LAB_DIR/redis"
    start_daemon redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$LAB_DIR/redis" \
      --save "" --appendonly no --daemonize no
    wait_port "$REDIS_PORT" redis
  fi
  say "redis: up on 127.0.0.1:$REDIS_PORT"
}

# ---------------------------------------------------------------- NetBox
nb() { "$NETBOX_VENV/bin/netbox" "$@"; }

write_netbox_config() {
  mkdir -p "$NETBOX_ROOT_DIR/conf" "$NETBOX_ROOT_DIR/media" "$NETBOX_ROOT_DIR/reports" "$NETBOX_ROOT_DIR/scripts"
  cat > "$NETBOX_ROOT_DIR/conf/configuration.py" <<PY
# Written by dcagent lab/up. Loopback only.
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "netbox", "USER": "netbox",
    "PASSWORD": "$(secret pg-netbox)", "HOST": "127.0.0.1", "PORT": $PG_PORT, "CONN_MAX_AGE": 300}}
REDIS = {
    "tasks": {"HOST": "127.0.0.1", "PORT": $REDIS_PORT, "DATABASE": 0, "SSL": False},
    "caching": {"HOST": "127.0.0.1", "PORT": $REDIS_PORT, "DATABASE": 1, "SSL": False},
}
SECRET_KEY = "$(secret netbox-secret-key 60)"
API_TOKEN_PEPPERS = {1: "$(secret netbox-pepper 60)"}
MEDIA_ROOT = "$NETBOX_ROOT_DIR/media"
REPORTS_ROOT = "$NETBOX_ROOT_DIR/reports"
SCRIPTS_ROOT = "$NETBOX_ROOT_DIR/scripts"
TIME_ZONE = "Asia/Jakarta"
# A device status NetBox does not ship and data centres add: dcagent's maintenance playbook sets it for the window.
FIELD_CHOICES = {"dcim.Device.status+": (("maintenance", "Maintenance", "orange"),)}
PY
}

netbox_db() {
  local created; created=$(ensure_db netbox netbox "$(secret pg-netbox)")
  local dump="$CACHE_DIR/netbox-$NETBOX_VERSION-migrated.dump"
  if [ -z "$created" ] && [ -n "$(psql_admin -d netbox -c "SELECT 1 FROM pg_tables WHERE tablename='django_migrations'")" ]; then
    say "netbox: database already migrated"
    return 0
  fi
  # A fresh machine has no cache: the dump kept in the repository (same NetBox version, checked by its sha256)
  # saves the ~8 minutes of migrations; see docs/decisions/0002-lab-netbox-database.md.
  local shipped="$LAB_ROOT/cache/netbox-$NETBOX_VERSION-migrated.dump"
  if [ ! -s "$dump" ] && [ -s "$shipped" ] && (cd "$(dirname "$shipped")" && sha256sum --quiet -c "$(basename "$shipped").sha256"); then
    dump="$shipped"
  fi
  if [ -s "$dump" ]; then
    say "netbox: restoring migrated database from $dump"
    runuser -u postgres -- pg_restore -p "$PG_PORT" -d netbox --no-owner --role=netbox < "$dump"
    return 0
  fi
  say "netbox: migrating an empty database (about 6 minutes, once; then cached)"
  nb migrate --no-input >"$LAB_DIR/log/netbox-migrate.log" 2>&1 || { tail -20 "$LAB_DIR/log/netbox-migrate.log"; die "netbox migrate failed"; }
  mkdir -p "$CACHE_DIR"
  runuser -u postgres -- pg_dump -p "$PG_PORT" -Fc netbox > "$dump.tmp" && mv "$dump.tmp" "$dump"
  say "netbox: migrated; cached at $dump"
}

netbox_token() {
  local url="http://127.0.0.1:$NETBOX_PORT" tokfile="$SECRETS/netbox-token"
  # Secrets go to curl on its stdin (printf is a builtin): never in a process's arguments, which anyone on the
  # machine can read (the fault tests sample them while they restart NetBox).
  if [ -s "$tokfile" ] && printf 'Authorization: Bearer %s\n' "$(cat "$tokfile")" \
      | curl -sf -o /dev/null -H @- "$url/api/users/tokens/"; then
    return 0
  fi
  local pw; pw=$(secret netbox-admin)
  local body
  body=$(printf '{"username":"admin","password":"%s","description":"dcagent lab"}' "$pw" \
    | curl -sf -X POST -H 'Content-Type: application/json' -H 'Accept: application/json' -d @- \
      "$url/api/users/tokens/provision/") || die "netbox: token provisioning failed"
  local py; py=$(find_python312)
  (umask 077; printf '%s' "$body" | "$py" -c 'import json,sys; d=json.load(sys.stdin); print("nbt_" + d["key"] + "." + d["token"], end="")' > "$tokfile")
  say "netbox: provisioned a v2 API token"
}

# The API answers (403 without a token counts: the application is up).
netbox_answers() {
  local code; code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NETBOX_PORT/api/status/" || true)
  [ "$code" = 200 ] || [ "$code" = 403 ]
}

# The slow, single-core part of NetBox (its database), run in the background by lab/up while the other services
# start: configuration, migrated database (from the cache when present) and the superuser.
prepare_netbox() {
  write_netbox_config
  mkdir -p "$LAB_DIR/log"
  port_open "$NETBOX_PORT" && return 0
  netbox_db
  if [ ! -f "$LAB_DIR/netbox.superuser" ]; then
    DJANGO_SUPERUSER_PASSWORD="$(secret netbox-admin)" nb createsuperuser --noinput --username admin \
      --email admin@dc.lab >/dev/null 2>&1 || true   # exists already after a cache restore of a seeded DB
    touch "$LAB_DIR/netbox.superuser"
  fi
  say "netbox: database ready"
}

# The web UI's static files (collected once per version), served by WhiteNoise in front of NetBox's WSGI app: the
# browser test opens NetBox's pages as a person does (gunicorn alone serves no /static/).
netbox_static() {
  if [ ! -f "$NETBOX_ROOT_DIR/static/.collected-$NETBOX_VERSION" ]; then
    NETBOX_ROOT="$NETBOX_ROOT_DIR" nb collectstatic --no-input >/dev/null
    touch "$NETBOX_ROOT_DIR/static/.collected-$NETBOX_VERSION"
  fi
  cat > "$NETBOX_ROOT_DIR/conf/lab_wsgi.py" <<PY
# Written by dcagent lab/up: NetBox's WSGI app with its static files.
from netbox.wsgi import application as netbox
from whitenoise import WhiteNoise

application = WhiteNoise(netbox, root="$NETBOX_ROOT_DIR/static", prefix="static/")
PY
}

up_netbox() {
  write_netbox_config
  mkdir -p "$LAB_DIR/log"
  if ! port_open "$NETBOX_PORT"; then
    say "netbox: starting gunicorn on 127.0.0.1:$NETBOX_PORT"
    netbox_static
    ( cd "$NETBOX_ROOT_DIR" && NETBOX_ROOT="$NETBOX_ROOT_DIR" start_daemon netbox-web \
        "$NETBOX_VENV/bin/gunicorn" --pythonpath "$NETBOX_ROOT_DIR/conf" lab_wsgi:application \
        -b "127.0.0.1:$NETBOX_PORT" -w 3 --threads 2 --timeout 120 --keep-alive 30 )
    wait_port "$NETBOX_PORT" "netbox web" 240
  fi
  if [ ! -f "$LAB_DIR/run/netbox-rq.pgid" ] || ! kill -0 -- "-$(cat "$LAB_DIR/run/netbox-rq.pgid")" 2>/dev/null; then
    NETBOX_ROOT="$NETBOX_ROOT_DIR" start_daemon netbox-rq "$NETBOX_VENV/bin/netbox" rqworker high default low
  fi
  netbox_answers || { for _ in $(seq 240); do sleep 0.5; netbox_answers && break; done; }
  netbox_answers || die "netbox does not answer on 127.0.0.1:$NETBOX_PORT (see $LAB_DIR/log/netbox-web.log)"
  netbox_token
  say "netbox: $NETBOX_VERSION up on http://127.0.0.1:$NETBOX_PORT (rqworker running)"
}

# ---------------------------------------------------------------- Zabbix
ZBX_DIR="$LAB_DIR/zabbix"

# CacheUpdateFrequency: how soon the server sees a new host or item (the API writes only the database). The
# default is 60 s; operators who add hosts by API lower it so new hosts are polled and accept trapper values sooner.
# The lab's database is tiny, so a sync every 2 s costs nothing and lets a new host's first ICMP check and first
# sender value happen within seconds (LAB-NOTES: the sender reports `failed` for items the cache does not know).
# A Zabbix frontend's configuration (6.0: /etc/zabbix/zabbix.conf.php; 7.0: its own, lab/lib/zabbix7.sh): the union of
# both versions' keys (each ignores the ones it does not know), written aside and moved in, readable by root only.
write_zabbix_web_conf() {
  local file=$1 db=$2 user=$3 password=$4 server_port=$5 name=$6
  (umask 077; cat > "$file.tmp" <<PHP
<?php
// Written by dcagent lab/up (lab/lib/services.sh write_zabbix_web_conf).
\$DB['TYPE'] = ZBX_DB_POSTGRESQL;
\$DB['SERVER'] = '127.0.0.1';
\$DB['PORT'] = '$PG_PORT';
\$DB['DATABASE'] = '$db';
\$DB['USER'] = '$user';
\$DB['PASSWORD'] = '$password';
\$DB['SCHEMA'] = '';
\$DB['ENCRYPTION'] = false;
\$DB['KEY_FILE'] = '';
\$DB['CERT_FILE'] = '';
\$DB['CA_FILE'] = '';
\$DB['VERIFY_HOST'] = false;
\$DB['CIPHER_LIST'] = '';
\$DB['VAULT'] = '';
\$DB['VAULT_URL'] = '';
\$DB['VAULT_PREFIX'] = '';
\$DB['VAULT_DB_PATH'] = '';
\$DB['VAULT_TOKEN'] = '';
\$DB['VAULT_CERT_FILE'] = '';
\$DB['VAULT_KEY_FILE'] = '';
\$DB['DOUBLE_IEEE754'] = true;
\$ZBX_SERVER = '127.0.0.1';
\$ZBX_SERVER_PORT = '$server_port';
\$ZBX_SERVER_NAME = '$name';
\$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
PHP
  )
  mv "$file.tmp" "$file"
}

write_zabbix_config() {
  mkdir -p "$ZBX_DIR/run" "$ZBX_DIR/log"
  chown -R zabbix:zabbix "$ZBX_DIR/run" "$ZBX_DIR/log"
  cat > "$ZBX_DIR/zabbix_server.conf" <<CONF
ListenIP=127.0.0.1
ListenPort=$ZBX_SERVER_PORT
LogFile=$ZBX_DIR/log/zabbix_server.log
PidFile=$ZBX_DIR/run/zabbix_server.pid
SocketDir=$ZBX_DIR/run
DBHost=127.0.0.1
DBPort=$PG_PORT
DBName=zabbix
DBUser=zabbix
DBPassword=$(secret pg-zabbix)
StartPollers=3
StartPollersUnreachable=1
StartPingers=2
StartTrappers=3
StartDiscoverers=1
StartHTTPPollers=1
StartPreprocessors=2
StartLLDProcessors=1
StartAlerters=1
StartEscalators=1
StartTimers=1
CacheUpdateFrequency=2
Timeout=4
FpingLocation=/usr/bin/fping
LogSlowQueries=3000
CONF
  chmod 640 "$ZBX_DIR/zabbix_server.conf"; chgrp zabbix "$ZBX_DIR/zabbix_server.conf"
  cat > "$ZBX_DIR/zabbix_agentd.conf" <<CONF
ListenIP=127.0.0.1
ListenPort=$ZBX_AGENT_PORT
SourceIP=127.0.0.1
Server=127.0.0.0/8
ServerActive=127.0.0.1:$ZBX_SERVER_PORT
Hostname=Zabbix server
LogFile=$ZBX_DIR/log/zabbix_agentd.log
PidFile=$ZBX_DIR/run/zabbix_agentd.pid
StartAgents=2
CONF
  write_zabbix_web_conf /etc/zabbix/zabbix.conf.php zabbix zabbix "$(secret pg-zabbix)" "$ZBX_SERVER_PORT" 'dcagent lab'
}

zabbix_db() {
  local created; created=$(ensure_db zabbix zabbix "$(secret pg-zabbix)")
  if [ -n "$(psql_admin -d zabbix -c "SELECT 1 FROM pg_tables WHERE tablename='dbversion'")" ]; then return 0; fi
  say "zabbix: importing schema (about 20 s)"
  zcat /usr/share/zabbix-server-pgsql/{schema,images,data}.sql.gz \
    | PGPASSWORD="$(secret pg-zabbix)" psql -q -h 127.0.0.1 -p "$PG_PORT" -U zabbix zabbix -v ON_ERROR_STOP=1 >/dev/null
  # Without planner statistics a host.create linking an SNMP template ran > 90 s (LAB-NOTES).
  psql_admin -d zabbix -c "VACUUM (ANALYZE)"
  : "$created"
}

zbx_api() {  # zbx_api METHOD PARAMS_JSON [AUTH]
  local auth=${3:-}
  local body="{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":$2,\"id\":1${auth:+,\"auth\":\"$auth\"}}"
  printf '%s' "$body" | curl -sf -H 'Content-Type: application/json-rpc' -d @- "http://127.0.0.1:$ZBX_WEB_PORT/api_jsonrpc.php"
}

json_get() { "$(find_python312)" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

zabbix_token() {
  local tokfile="$SECRETS/zabbix-token"
  if [ -s "$tokfile" ] && zbx_api host.get '{"limit":1}' "$(cat "$tokfile")" | grep -q '"result"'; then return 0; fi
  local sid; sid=$(zbx_api user.login '{"username":"Admin","password":"zabbix"}' | json_get 'd["result"]') \
    || die "zabbix: cannot log in as Admin"
  local name="dcagent-lab-$(date +%s)"
  local tid; tid=$(zbx_api token.create "{\"name\":\"$name\",\"userid\":\"1\"}" "$sid" | json_get 'd["result"]["tokenids"][0]')
  (umask 077; zbx_api token.generate "[\"$tid\"]" "$sid" | json_get 'd["result"][0]["token"]' | tr -d '\n' > "$tokfile")
  say "zabbix: created API token $name"
}

# Zabbix's frontend and API (also started by the fault tests after an outage they caused).
zabbix_web_start() {
  if ! port_open "$ZBX_WEB_PORT"; then
    PHP_CLI_SERVER_WORKERS=4 start_daemon zabbix-web php -d opcache.enable_cli=1 -d memory_limit=256M \
      -d post_max_size=16M -d max_execution_time=300 -S "127.0.0.1:$ZBX_WEB_PORT" -t /usr/share/zabbix
    wait_port "$ZBX_WEB_PORT" "zabbix frontend"
  fi
}

up_zabbix() {
  write_zabbix_config
  zabbix_db
  if [ ! -f "$ZBX_DIR/run/zabbix_server.pid" ] || ! kill -0 "$(cat "$ZBX_DIR/run/zabbix_server.pid")" 2>/dev/null; then
    say "zabbix: starting server"
    zabbix_server -c "$ZBX_DIR/zabbix_server.conf"
  fi
  if [ ! -f "$ZBX_DIR/run/zabbix_agentd.pid" ] || ! kill -0 "$(cat "$ZBX_DIR/run/zabbix_agentd.pid")" 2>/dev/null; then
    zabbix_agentd -c "$ZBX_DIR/zabbix_agentd.conf"
  fi
  zabbix_web_start
  wait_port "$ZBX_SERVER_PORT" "zabbix server" 60
  zabbix_token
  local v; v=$(zbx_api apiinfo.version '{}' | json_get 'd["result"]')
  say "zabbix: $v up (API http://127.0.0.1:$ZBX_WEB_PORT, server :$ZBX_SERVER_PORT, agent :$ZBX_AGENT_PORT)"
}

# ---------------------------------------------------------------- SSH (switches and the colocated server)
SSH_DIR="$LAB_DIR/ssh"
KNOWN_HOSTS="$SSH_DIR/known_hosts"
CLIENT_KEY="$SSH_DIR/dcagent_ed25519"

ensure_user() {  # ensure_user NAME HOME [GROUP]
  id "$1" >/dev/null 2>&1 || useradd --system --home-dir "$2" --shell /bin/bash ${3:+-g "$3"} "$1"
  usermod -p '*' "$1"   # key-only login, but not a locked account (sshd refuses locked ones)
  mkdir -p "$2"; chown "$1" "$2"
}

ssh_client_key() {
  mkdir -p "$SSH_DIR"; chmod 755 "$SSH_DIR"; mkdir -p /run/sshd
  [ -f "$CLIENT_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C dcagent-lab -f "$CLIENT_KEY"
  touch "$KNOWN_HOSTS"
}

# start_sshd NAME ADDR PORT USER [SetEnv...]: its own host key, key-only login for one user
start_sshd() {
  local name=$1 addr=$2 port=$3 user=$4 setenv=${5:-}
  local dir="$SSH_DIR/$name"; mkdir -p "$dir"
  [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$dir/host_ed25519"
  install -m 644 "$CLIENT_KEY.pub" "$dir/authorized_keys"
  cat > "$dir/sshd_config" <<CONF
ListenAddress $addr:$port
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers $user
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
X11Forwarding no
AllowTcpForwarding no
Subsystem sftp internal-sftp
${setenv:+SetEnv $setenv}
CONF
  local line; line="[$addr]:$port $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")"
  grep -qxF "$line" "$KNOWN_HOSTS" || { grep -v "^\[$addr\]:$port " "$KNOWN_HOSTS" > "$KNOWN_HOSTS.tmp" || true; echo "$line" >> "$KNOWN_HOSTS.tmp"; mv "$KNOWN_HOSTS.tmp" "$KNOWN_HOSTS"; }
  if ! (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then
    start_daemon "sshd-$name" /usr/sbin/sshd -D -e -f "$dir/sshd_config"
    for _ in $(seq 40); do (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null && return 0; sleep 0.25; done
    die "sshd $name did not open $addr:$port"
  fi
}

switch_addr() { echo "127.0.1.$(( $1 + 1 ))"; }

up_switch() {  # up_switch INDEX NAME PORT
  local i=$1 name=$2 port=$3 dir="$LAB_DIR/switches/$2" ns="dcsw-$2"
  mkdir -p "$dir"
  local vsctl=(ovs-vsctl --db="unix:$dir/db.sock")
  [ -f "$dir/conf.db" ] || ovsdb-tool create "$dir/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  if ! [ -S "$dir/db.sock" ] || ! "${vsctl[@]}" --timeout=2 show >/dev/null 2>&1; then
    rm -f "$dir/db.sock"
    OVS_RUNDIR="$dir" ovsdb-server "$dir/conf.db" --remote="punix:$dir/db.sock" --pidfile="$dir/ovsdb-server.pid" \
      --log-file="$dir/ovsdb-server.log" --detach --no-chdir 2>>"$dir/start.log"
    "${vsctl[@]}" --no-wait init
  fi
  # Each switch's datapath lives in its own network namespace, so its swpN tap devices never clash.
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  if ! [ -f "$dir/ovs-vswitchd.pid" ] || ! kill -0 "$(cat "$dir/ovs-vswitchd.pid")" 2>/dev/null; then
    OVS_RUNDIR="$dir" ip netns exec "$ns" ovs-vswitchd "unix:$dir/db.sock" --pidfile="$dir/ovs-vswitchd.pid" \
      --log-file="$dir/ovs-vswitchd.log" --detach --no-chdir 2>>"$dir/start.log"
  fi
  if ! "${vsctl[@]}" br-exists br0; then
    local args=(-- add-br br0 -- set bridge br0 datapath_type=netdev)
    for p in $(seq "$SWITCH_ACCESS_PORTS"); do args+=(-- add-port br0 "swp$p" -- set interface "swp$p" type=internal); done
    for u in 1 2; do args+=(-- add-port br0 "uplink$u" -- set interface "uplink$u" type=internal -- set port "uplink$u" vlan_mode=trunk); done
    "${vsctl[@]}" "${args[@]}"
  fi
  # The switch's CLI user reaches the database through the socket's group.
  # br0.mgmt is the OpenFlow socket `ovs-ofctl mod-port` (shutdown/no shutdown) talks to.
  for _ in $(seq 40); do [ -S "$dir/br0.mgmt" ] && break; sleep 0.25; done
  # ovs-vswitchd's control socket: `ovs-appctl fdb/show` (the MACs the switch learned, for verification findings).
  # ovs-appctl opens the pid file read-write (to test its lock), hence 660 there.
  local ctl; ctl="$dir/ovs-vswitchd.$(cat "$dir/ovs-vswitchd.pid").ctl"
  chgrp netops "$dir" "$dir/db.sock" "$dir/br0.mgmt" "$ctl" "$dir/ovs-vswitchd.pid"
  chmod 750 "$dir"; chmod 770 "$dir/db.sock" "$dir/br0.mgmt" "$ctl"; chmod 660 "$dir/ovs-vswitchd.pid"
  # A routing switch's CLI also reaches its FRR (vtysh -N "$FRR_PATHSPACE"): lib/dataplane.sh.
  # (is_router comes from lib/dataplane.sh: whoever starts a switch sources it, or the switch loses its FRR CLI.)
  declare -F is_router >/dev/null || die "up_switch needs lib/dataplane.sh (is_router)"
  local env="OVS_RUNDIR=$dir"; is_router "$name" && env="$env FRR_PATHSPACE=$name"
  start_sshd "switch-$name" "$(switch_addr "$i")" "$port" netops "$env"
}

up_switches() {
  getent group netops >/dev/null || groupadd --system netops
  ensure_user netops "$LAB_DIR/home/netops" netops
  ssh_client_key
  local i=0
  for spec in "${SWITCHES[@]}"; do
    up_switch "$i" "${spec%%:*}" "${spec##*:}"
    say "switch ${spec%%:*}: ovs br0 with swp1-swp$SWITCH_ACCESS_PORTS + 2 uplinks, ssh netops@$(switch_addr "$i"):${spec##*:}"
    i=$((i + 1))
  done
}

SERVER_ADDR=127.0.2.1
up_server() {
  ensure_user colo "$LAB_DIR/server"
  ssh_client_key
  mkdir -p "$LAB_DIR/server/data"
  if [ ! -f "$LAB_DIR/server/data/.seeded" ]; then
    # A small application tree for backup/restore demos: configs, a database dump, uploads.
    mkdir -p "$LAB_DIR/server/data/"{etc,db,uploads}
    for n in $(seq 1 40); do head -c $((n * 1024)) /dev/urandom > "$LAB_DIR/server/data/uploads/file-$n.bin"; done
    printf 'app_name = "simpeg"\nlisten = "0.0.0.0:8080"\n' > "$LAB_DIR/server/data/etc/app.toml"
    head -c 2000000 /dev/urandom | base64 > "$LAB_DIR/server/data/db/dump.sql"
    touch "$LAB_DIR/server/data/.seeded"
  fi
  chown -R colo "$LAB_DIR/server"
  start_sshd server "$SERVER_ADDR" "$SERVER_SSH_PORT" colo
  say "server: ssh colo@$SERVER_ADDR:$SERVER_SSH_PORT, data in $LAB_DIR/server/data"
}

# ---------------------------------------------------------------- DNS
DNS_DIR="$LAB_DIR/dns"
DNS_ZONE=dc.lab
DNS_REVERSE=127.in-addr.arpa
DNS_DATAPLANE_REVERSE="18.198.in-addr.arpa 19.198.in-addr.arpa"

up_dns() {
  mkdir -p "$DNS_DIR"
  if [ ! -f "$DNS_DIR/tsig.key" ]; then tsig-keygen -a hmac-sha256 dcagent-key > "$DNS_DIR/tsig.key"; fi
  sed -n 's/.*secret "\(.*\)";.*/\1/p' "$DNS_DIR/tsig.key" | tr -d '\n' > "$SECRETS/dns-tsig"; chmod 600 "$SECRETS/dns-tsig"
  local serial; serial=$(date +%Y%m%d01)
  [ -f "$DNS_DIR/$DNS_ZONE.zone" ] || cat > "$DNS_DIR/$DNS_ZONE.zone" <<ZONE
\$TTL 300
@ IN SOA ns1.$DNS_ZONE. hostmaster.$DNS_ZONE. ( $serial 3600 600 86400 300 )
@ IN NS ns1.$DNS_ZONE.
ns1 IN A 127.0.0.1
ZONE
  [ -f "$DNS_DIR/$DNS_REVERSE.zone" ] || cat > "$DNS_DIR/$DNS_REVERSE.zone" <<ZONE
\$TTL 300
@ IN SOA ns1.$DNS_ZONE. hostmaster.$DNS_ZONE. ( $serial 3600 600 86400 300 )
@ IN NS ns1.$DNS_ZONE.
1.0.0 IN PTR ns1.$DNS_ZONE.
ZONE
  local z; for z in $DNS_DATAPLANE_REVERSE; do  # the data plane's 198.18.0.0/15 (lib/dataplane.sh)
    [ -f "$DNS_DIR/$z.zone" ] || printf '$TTL 300\n@ IN SOA ns1.%s. hostmaster.%s. ( %s 3600 600 86400 300 )\n@ IN NS ns1.%s.\n' \
      "$DNS_ZONE" "$DNS_ZONE" "$serial" "$DNS_ZONE" > "$DNS_DIR/$z.zone"
  done
  cat > "$DNS_DIR/named.conf" <<CONF
include "$DNS_DIR/tsig.key";
options {
  directory "$DNS_DIR";
  pid-file "$DNS_DIR/named.pid";
  listen-on port $DNS_PORT { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { 127.0.0.0/8; };
  dnssec-validation no;
};
controls { };
zone "$DNS_ZONE" { type primary; file "$DNS_DIR/$DNS_ZONE.zone"; allow-update { key dcagent-key; }; };
zone "$DNS_REVERSE" { type primary; file "$DNS_DIR/$DNS_REVERSE.zone"; allow-update { key dcagent-key; }; };
$(for z in $DNS_DATAPLANE_REVERSE; do echo "zone \"$z\" { type primary; file \"$DNS_DIR/$z.zone\"; allow-update { key dcagent-key; }; };"; done)
CONF
  if ! [ -f "$DNS_DIR/named.pid" ] || ! kill -0 "$(cat "$DNS_DIR/named.pid")" 2>/dev/null; then
    named-checkconf "$DNS_DIR/named.conf" || die "named.conf invalid"
    start_daemon named named -f -c "$DNS_DIR/named.conf" -u root
  fi
  for _ in $(seq 40); do dig +short -p "$DNS_PORT" @127.0.0.1 "ns1.$DNS_ZONE" A 2>/dev/null | grep -q 127.0.0.1 && break; sleep 0.25; done
  dig +short -p "$DNS_PORT" @127.0.0.1 "ns1.$DNS_ZONE" A | grep -q 127.0.0.1 || die "named does not answer for $DNS_ZONE"
  say "dns: BIND serving $DNS_ZONE and $DNS_REVERSE on 127.0.0.1:$DNS_PORT (TSIG key dcagent-key)"
}

# ---------------------------------------------------------------- backup repository
up_restic() {
  local repo="$LAB_DIR/restic-repo"
  secret restic-password >/dev/null
  if [ ! -f "$repo/config" ]; then
    RESTIC_PASSWORD_FILE="$SECRETS/restic-password" restic init --repo "$repo" >/dev/null
  fi
  say "backup: restic repository $repo"
}
