# mijian-agent %preun ($1: 0 erase, 1 upgrade): stop and disable on erase.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable mijian-agent.service >/dev/null 2>&1 || :
    if [ -d /run/systemd/system ]; then
        systemctl stop mijian-agent.service >/dev/null 2>&1 || :
    fi
fi
exit 0
