# mijian-collector %pre: the `mijian` system user owns the database.
getent group mijian >/dev/null || groupadd --system mijian
getent passwd mijian >/dev/null || useradd --system --gid mijian \
    --home-dir /var/lib/mijian-collector --no-create-home \
    --shell /sbin/nologin --comment "mijian collector" mijian
exit 0
