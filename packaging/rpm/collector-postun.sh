# mijian-collector %postun: the database in /var/lib/mijian-collector and the
# `mijian` user stay after an erase (RPM has no purge).
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
