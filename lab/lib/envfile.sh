# The connection settings for dcagent (lab/lab.env, git-ignored). Secrets are referenced by *_FILE.
write_env_file() {
  local sw_hosts=""
  cat > "$ENV_FILE.tmp" <<ENV
# Written by lab/up; source it (set -a; . lab/lab.env) before running dcagent against the lab.
DCAGENT_NETBOX__URL=http://127.0.0.1:$NETBOX_PORT
DCAGENT_NETBOX__TOKEN_FILE=$SECRETS/netbox-token
DCAGENT_ZABBIX__URL=http://127.0.0.1:$ZBX_WEB_PORT
DCAGENT_ZABBIX__TOKEN_FILE=$SECRETS/zabbix-token
DCAGENT_ZABBIX__CACHE_UPDATE_SECONDS=2
DCAGENT_SWITCH_SSH__USERNAME=netops
DCAGENT_SWITCH_SSH__KEY_FILE=$CLIENT_KEY
DCAGENT_SWITCH_SSH__KNOWN_HOSTS=$KNOWN_HOSTS
DCAGENT_SERVER_SSH__USERNAME=colo
DCAGENT_SERVER_SSH__KEY_FILE=$CLIENT_KEY
DCAGENT_SERVER_SSH__KNOWN_HOSTS=$KNOWN_HOSTS
DCAGENT_DNS__SERVER=127.0.0.1
DCAGENT_DNS__PORT=$DNS_PORT
DCAGENT_DNS__ZONE=$DNS_ZONE
DCAGENT_DNS__REVERSE_ZONES=$DNS_REVERSE,${DNS_DATAPLANE_REVERSE// /,}
DCAGENT_DNS__TSIG_KEY_NAME=dcagent-key
DCAGENT_DNS__TSIG_SECRET_FILE=$SECRETS/dns-tsig
DCAGENT_BACKUP__REPOSITORY=$LAB_DIR/restic-repo
DCAGENT_BACKUP__PASSWORD_FILE=$SECRETS/restic-password
DCAGENT_BACKUP__MIN_INTERVAL=60
DCAGENT_WEBHOOK_SECRET_FILE=$SECRETS/webhook-secret
DCAGENT_WEBHOOK_URL=http://127.0.0.1:8090/webhooks/netbox
DCAGENT_STORE_URL=sqlite:///$LAB_DIR/dcagent/runs.sqlite3
DCAGENT_REPORTS_DIR=$LAB_DIR/dcagent/reports
DCAGENT_MAIL__HOST=127.0.0.1
DCAGENT_MAIL__PORT=$MAIL_PORT
DCAGENT_MAIL__SENDER=noc@dc.lab
# Off in the lab by default: a dozen test agents serve at once; the tests of these features turn them on.
DCAGENT_HEARTBEAT_SECONDS=0
DCAGENT_CAPACITY_INTERVAL_MINUTES=0
# Lab-only facts for the integration tests (not dcagent settings).
LAB_DIR=$LAB_DIR
LAB_PG_URL=postgresql+psycopg://dcagent:$(secret pg-dcagent)@127.0.0.1:$PG_PORT/dcagent
LAB_ZABBIX_SERVER_CONF=$ZBX_DIR/zabbix_server.conf
# Zabbix 7.0 beside 6.0 (lib/zabbix7.sh). dcagent talks to 6.0 above; it is pointed at 7.0 as a real installation
# is, by its Zabbix URL and token file settings: DCAGENT_ZABBIX__URL and __TOKEN_FILE set to the two values below.
LAB_ZABBIX7_URL=http://127.0.0.1:$ZBX7_WEB_PORT
LAB_ZABBIX7_TOKEN_FILE=$ZBX7_TOKEN_FILE
LAB_ZABBIX7_SERVER_CONF=$ZBX7_CONF
LAB_SWITCHES=$(IFS=,; echo "${SWITCHES[*]}")
LAB_SERVER_SSH=$SERVER_ADDR:$SERVER_SSH_PORT
LAB_SERVER_DATA=$LAB_DIR/server/data
LAB_MAIL_DIR=$MAIL_DIR
LAB_MAIL_DOMAIN=$MAIL_DOMAIN
LAB_NETBOX_ADMIN_PASSWORD_FILE=$SECRETS/netbox-admin
ENV
  secret webhook-secret >/dev/null
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  : "$sw_hosts"
}
