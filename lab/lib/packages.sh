# Debian packages of the lab. Services are not started by dpkg (policy-rc.d); lab/up starts them.
APT_PACKAGES=(
  postgresql redis-server
  zabbix-server-pgsql zabbix-frontend-php zabbix-agent
  php8.2-cli php8.2-cgi php8.2-pgsql php8.2-bcmath php8.2-gd php8.2-mbstring php8.2-xml
  openvswitch-switch openssh-server openssh-client
  bind9 bind9-utils bind9-dnsutils
  restic rsync poppler-utils curl iproute2 make iputils-ping postfix
  frr        # the routing switches' zebra (lib/dataplane.sh)
  chromium   # the browser test: a person following NetBox's custom link to dcagent's pages
)

install_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "apt: all ${#APT_PACKAGES[@]} packages present"; return 0; fi
  say "apt: installing ${missing[*]}"
  local created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Postfix: configured by lab/up (lib/mail.sh), not by its installer
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $created_policy -eq 1 ] && rm -f /usr/sbin/policy-rc.d
  say "apt: done"
}
