# NetBox from PyPI into its own Python 3.12 venv (kept apart from dcagent's: different pins).
install_netbox() {
  if [ -x "$NETBOX_VENV/bin/netbox" ] && [ "$("$NETBOX_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("netbox"))' 2>/dev/null)" = "$NETBOX_VERSION" ]; then
    say "netbox: $NETBOX_VERSION present in $NETBOX_VENV"; return 0
  fi
  local py; py=$(find_python312)
  say "netbox: pip install netbox==$NETBOX_VERSION (about 1.5 min)"
  mkdir -p "$LAB_DIR"
  "$py" -m venv "$NETBOX_VENV"
  "$NETBOX_VENV/bin/pip" install -q --upgrade pip 2>&1 | { grep -v "is ignored: it is neither" || true; }
  "$NETBOX_VENV/bin/pip" install -q "netbox==$NETBOX_VERSION" 2>&1 | { grep -v "is ignored: it is neither" || true; }
  say "netbox: installed"
}
