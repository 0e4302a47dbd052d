# mijian-agent %post ($1: 1 install, 2 upgrade): state directory, agent key
# (created once, never replaced), the kid for registration, the service.
STATE=/var/lib/mijian
install -d -m 0700 -o root -g root "$STATE"
chmod 0700 "$STATE"
if jwk=$(/usr/bin/mijian-agent key 2>/dev/null); then
    kid=$(printf '%s\n' "$jwk" | sed -n 's/.*"kid": *"\([^"]*\)".*/\1/p' | head -n 1)
    echo "mijian-agent: agent key id (kid): $kid"
    echo "mijian-agent: register it: mijian-agent enroll --collector URL --token TOKEN,"
    echo "mijian-agent:   or: mijian-agent key > agent.jwk; mijian-collector agents add --jwk agent.jwk"
else
    echo "mijian-agent: warning: could not open the agent key (run: mijian-agent key)" >&2
fi
if command -v systemctl >/dev/null 2>&1; then
    if [ "$1" -eq 1 ]; then
        systemctl enable mijian-agent.service >/dev/null 2>&1 || :
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
        if [ "$1" -eq 1 ]; then
            systemctl start mijian-agent.service >/dev/null 2>&1 || :
        else
            systemctl try-restart mijian-agent.service >/dev/null 2>&1 || :
        fi
    fi
fi
exit 0
