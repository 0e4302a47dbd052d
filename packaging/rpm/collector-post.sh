# mijian-collector %post ($1: 1 install, 2 upgrade): data directory, a first
# admin account (password printed once), the service (loopback until TLS).
DATA=/var/lib/mijian-collector
CONF=/etc/mijian/collector.toml
install -d -m 0750 -o mijian -g mijian "$DATA"
if [ "$1" -eq 1 ] && [ ! -e "$DATA/collector.db" ]; then
    pw=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    if printf '%s\n' "$pw" | runuser -u mijian -- /usr/bin/mijian-collector \
            --config "$CONF" user add admin --role admin --password-stdin >/dev/null; then
        echo "mijian-collector: first staff account: admin, password: $pw"
        echo "mijian-collector: (shown once; change it with: runuser -u mijian -- mijian-collector user add admin --role admin --password-stdin)"
    else
        echo "mijian-collector: warning: could not create the admin account; create one with:" >&2
        echo "  runuser -u mijian -- mijian-collector user add admin --role admin --password-stdin" >&2
    fi
fi
if command -v systemctl >/dev/null 2>&1; then
    if [ "$1" -eq 1 ]; then
        systemctl enable mijian-collector.service >/dev/null 2>&1 || :
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
        if [ "$1" -eq 1 ]; then
            systemctl start mijian-collector.service >/dev/null 2>&1 || :
        else
            systemctl try-restart mijian-collector.service >/dev/null 2>&1 || :
        fi
    fi
fi
exit 0
