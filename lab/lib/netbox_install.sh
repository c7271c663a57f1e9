# NetBox from PyPI into its own Python 3.12 venv (kept apart from dcagent's: different pins).
WHITENOISE_VERSION=6.11.0  # serves NetBox's static files from gunicorn, so that its web UI works in a browser

install_netbox() {
  if [ -x "$NETBOX_VENV/bin/netbox" ] && [ "$("$NETBOX_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("netbox"))' 2>/dev/null)" = "$NETBOX_VERSION" ]; then
    say "netbox: $NETBOX_VERSION present in $NETBOX_VENV"; install_whitenoise; return 0
  fi
  local py; py=$(find_python312)
  say "netbox: pip install netbox==$NETBOX_VERSION (about 1.5 min)"
  mkdir -p "$LAB_DIR"
  "$py" -m venv "$NETBOX_VENV"
  "$NETBOX_VENV/bin/pip" install -q --upgrade pip 2>&1 | { grep -v "is ignored: it is neither" || true; }
  "$NETBOX_VENV/bin/pip" install -q "netbox==$NETBOX_VERSION" "whitenoise==$WHITENOISE_VERSION" 2>&1 \
    | { grep -v "is ignored: it is neither" || true; }
  say "netbox: installed"
}

install_whitenoise() {  # a venv made before the lab served the web UI
  "$NETBOX_VENV/bin/python" -c 'import whitenoise' 2>/dev/null && return 0
  "$NETBOX_VENV/bin/pip" install -q "whitenoise==$WHITENOISE_VERSION" 2>&1 | { grep -v "is ignored: it is neither" || true; }
}
