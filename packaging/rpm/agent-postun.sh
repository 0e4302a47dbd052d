# mijian-agent %postun ($1: 0 erase, 1 upgrade). RPM has no purge: the key,
# chain and outbox in /var/lib/mijian stay after an erase (delete the
# directory by hand to forget this agent); edited configs stay as .rpmsave.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
