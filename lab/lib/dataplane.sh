# The lab's data plane (issue 31): servers are network namespaces plugged into the switches' access ports; the
# server VLANs' gateways are SVIs on the routing switches (an OVS internal port `vlanNNN` tagged NNN, its address
# managed by FRR's zebra running inside the switch's namespace, driven over SSH through `vtysh`), and the root
# namespace (Zabbix's pinger) reaches them over one veth per routing switch.
#
# Addresses are in 198.18.0.0/15 (RFC 2544, set aside for network test labs), never anything else. The root
# namespace routes parts of that range only into the lab's namespaces, and holds a lower-priority `unreachable`
# route for the whole range: with a namespace or veth missing, a packet for the range is refused locally
# ("No route to host") and never leaves the machine (LAB-NOTES, third wave).

LAB_RANGE=198.18.0.0/15
SAFETY_METRIC=4000
FRR_DIR=/etc/frr
# routing switch : root end of its link (/31; the switch's end is the next address) : ranges routed to it
# (198.19.0.0/17: the agencies' connections, 198.19.128.0/18: the tests' own; 198.19.192.0/18 stays unrouted but
# for the links' own /31s: a test's throwaway namespace lives there)
ROUTERS=(
  "tor-btm-01:198.19.255.0:198.18.0.0/17 198.19.0.0/17 198.19.128.0/18"
  "tor-sbw-01:198.19.255.2:198.18.128.0/17"
)
# Existing server VLANs whose gateway lives on the routing switch from the start: switch:vid:gateway
LAB_GATEWAYS=("tor-btm-01:130:198.18.30.1/24" "tor-sbw-01:210:198.18.210.1/24")

router_link() { echo "dp-${1##*-}${1:4:3}"; }  # root-side veth name, e.g. dp-01btm (<= 15 chars)

next_addr() { python3 -c "import ipaddress,sys; print(ipaddress.ip_address(sys.argv[1]) + 1)" "$1"; }

up_frr() {  # up_frr SWITCH: zebra inside the switch's namespace, pathspace = switch name
  local sw=$1 ns="dcsw-$1" conf="$FRR_DIR/$1" run="/var/run/frr/$1"
  mkdir -p "$conf" "$run"
  chown frr:frr "$run"; chmod 755 /var/run/frr
  # netops (the switch's CLI user) reads vtysh.conf and writes frr.conf (`write memory` without watchfrr); it may
  # only traverse /etc/frr, not read the package's own files there.
  chmod 751 "$FRR_DIR"
  [ -f "$conf/frr.conf" ] || printf 'frr defaults traditional\nhostname %s\nservice integrated-vtysh-config\n!\n' "$sw" > "$conf/frr.conf"
  [ -f "$conf/vtysh.conf" ] || printf 'service integrated-vtysh-config\n' > "$conf/vtysh.conf"
  chown -R frr:frrvty "$conf"; chmod 775 "$conf"; chmod 664 "$conf"/*
  if ! [ -f "$run/zebra.pid" ] || ! kill -0 "$(cat "$run/zebra.pid")" 2>/dev/null; then
    ip netns exec "$ns" /usr/lib/frr/zebra -N "$sw" -d -A 127.0.0.1 -u frr -g frr -f "$conf/frr.conf" \
      --vty_socket "$run" >>"$LAB_DIR/log/zebra-$sw.log" 2>&1 || die "zebra for $sw did not start"
  fi
  for _ in $(seq 40); do [ -S "$run/zebra.vty" ] && return 0; sleep 0.25; done
  die "zebra for $sw opened no vty socket"
}

up_router_link() {  # up_router_link SWITCH ROOT_ADDR "RANGES": veth root <-> switch namespace, routes
  local sw=$1 root_addr=$2 ranges=$3 ns="dcsw-$1" link; link=$(router_link "$1")
  local peer; peer=$(next_addr "$root_addr")
  if ! ip link show "$link" >/dev/null 2>&1; then
    ip link add "$link" type veth peer name core0 netns "$ns"
  fi
  ip addr replace "$root_addr/31" dev "$link"; ip link set "$link" up
  ip -n "$ns" addr replace "$peer/31" dev core0; ip -n "$ns" link set core0 up; ip -n "$ns" link set lo up
  # The switch routes only the lab's range back to the root namespace; anything else is refused here, so no
  # server namespace can send a packet for an outside address to the host (which may forward it).
  ip -n "$ns" route replace "$LAB_RANGE" via "$root_addr"
  ip -n "$ns" route replace unreachable default
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
  for r in $ranges; do ip route replace "$r" via "$peer" dev "$link"; done
}

up_lab_gateway() {  # up_lab_gateway SWITCH VID CIDR: an existing VLAN's SVI, as the office's core already has it
  local sw=$1 vid=$2 cidr=$3 dir="$LAB_DIR/switches/$1"
  ovs-vsctl --db="unix:$dir/db.sock" --may-exist add-port br0 "vlan$vid" -- set interface "vlan$vid" type=internal \
    -- set port "vlan$vid" tag="$vid" external_ids:description='"gateway (lab)"'
  vtysh -N "$sw" -c "configure terminal" -c "interface vlan$vid" -c "ip address $cidr" -c "no shutdown" >/dev/null
  vtysh -N "$sw" -c "write memory" >/dev/null 2>&1 || true
  chown -R frr:frrvty "$FRR_DIR/$sw"; chmod 664 "$FRR_DIR/$sw"/*  # written by root just now: netops saves next
}

quiet_ports() {  # quiet_ports SWITCH: the switch's own kernel is no host on its ports
  # An empty port is an OVS internal port, a netdev in the switch's namespace: a VLAN's floods reach its kernel.
  # Left alone, that kernel answered a server's ARP for the gateway on any empty port in any VLAN with the port's
  # own MAC (arp_ignore 0), so a server plugged into a wrong VLAN learned a gateway MAC it kept after the cable
  # moved, and its pings went nowhere (measured: a verification that failed after the retry); and every empty port
  # sent IPv6 solicitations that the MAC tables (the findings) then showed. A switch port is no host: answer ARP
  # only for an address of the receiving interface (the SVI's), and no IPv6 on the switch's kernel.
  local ns="dcsw-$1"
  ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.default.arp_ignore=1 \
    net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.default.arp_announce=2 \
    net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" neigh flush all 2>/dev/null || true  # what the old rule let it learn
}

is_router() { local s; for s in "${ROUTERS[@]}"; do [ "${s%%:*}" = "$1" ] && return 0; done; return 1; }

repair_cables() {  # repair_cables SWITCH: a port cabled to a server namespace that is gone becomes an empty port
  local dir="$LAB_DIR/switches/$1" ns="dcsw-$1" p
  for p in $(ovs-vsctl --db="unix:$dir/db.sock" --bare --columns=name find interface type='""'); do
    case "$p" in swp*) ip -n "$ns" link show "$p" >/dev/null 2>&1 || \
      ovs-vsctl --db="unix:$dir/db.sock" set interface "$p" type=internal ;; esac
  done
}

up_dataplane() {
  usermod -aG frrvty netops
  for spec in "${SWITCHES[@]}"; do repair_cables "${spec%%:*}"; quiet_ports "${spec%%:*}"; done
  # The safety net first: whatever else fails below, the range never leaves the machine.
  ip route replace unreachable "$LAB_RANGE" metric "$SAFETY_METRIC"
  for spec in "${ROUTERS[@]}"; do
    IFS=: read -r sw root_addr ranges <<<"$spec"
    up_frr "$sw"
    up_router_link "$sw" "$root_addr" "$ranges"
  done
  for spec in "${LAB_GATEWAYS[@]}"; do
    IFS=: read -r sw vid cidr <<<"$spec"
    up_lab_gateway "$sw" "$vid" "$cidr"
  done
  say "data plane: $LAB_RANGE (unreachable metric $SAFETY_METRIC); routers ${ROUTERS[*]%%:*} (FRR zebra, vtysh -N NAME)"
}

down_dataplane() {
  for spec in "${ROUTERS[@]}"; do
    local sw=${spec%%:*}
    stop_pidfile "/var/run/frr/$sw/zebra.pid" || true
    ip link del "$(router_link "$sw")" 2>/dev/null || true
  done
  # Server namespaces the tests or the demo left (labkit names them dcsrv-*).
  for ns in $(ip netns list | awk '/^dcsrv-/{print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
}
