# ---------------------------------------------------------------- mail (Postfix)
# A real MTA on loopback, as an office's relay would be: Postfix accepts mail for the agencies' lab domain
# (opd.lab) on 127.0.0.1:$MAIL_PORT and delivers every recipient's copy into one Maildir, $MAIL_DIR/inbox/, each
# message with a Delivered-To header naming its recipient (Postfix's virtual agent allows no per-address pattern
# map); the integration tests read it. Logs go to $LAB_DIR/log/postfix.log (no syslog needed).
MAIL_PORT=25
MAIL_DOMAIN=opd.lab
MAIL_DIR="$LAB_DIR/mail"

up_mail() {
  ensure_user vmail "$MAIL_DIR"
  local uid gid; uid=$(id -u vmail); gid=$(id -g vmail)
  # The lab owns this machine's Postfix: main.cf is written whole (the rest are Postfix's compiled-in defaults).
  cat > /etc/postfix/main.cf <<CONF
compatibility_level = 3.6
myhostname = mail.dc.lab
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = $MAIL_DOMAIN
virtual_mailbox_base = $MAIL_DIR
virtual_mailbox_maps = static:inbox/
virtual_minimum_uid = $uid
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
maillog_file = $LAB_DIR/log/postfix.log
default_transport = error:the lab relays nowhere
alias_maps =
CONF
  # The smtpd of the lab runs outside a chroot (no copies of resolv.conf and friends needed).
  postconf -F "smtp/inet/chroot=n" 2>/dev/null || true
  postconf -M "postlog/unix-dgram=postlog   unix-dgram n  -       n       -       1       postlogd"
  if postfix status >/dev/null 2>&1; then postfix reload; else postfix start; fi
  for _ in $(seq 40); do port_open "$MAIL_PORT" && break; sleep 0.25; done
  port_open "$MAIL_PORT" || die "postfix does not listen on 127.0.0.1:$MAIL_PORT (see $LAB_DIR/log/postfix.log)"
  say "mail: postfix on 127.0.0.1:$MAIL_PORT delivers @$MAIL_DOMAIN into $MAIL_DIR/inbox/"
}
