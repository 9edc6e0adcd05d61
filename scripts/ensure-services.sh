#!/usr/bin/env bash
# Start local Redis and PostgreSQL if they are not answering (Debian packages; installs them if absent).
set -euo pipefail

need_install=()
command -v redis-server >/dev/null || need_install+=(redis-server)
command -v redis-cli >/dev/null || need_install+=(redis-tools)  # the test cluster's `--cluster create`
command -v openssl >/dev/null || need_install+=(openssl)  # the TLS Redis tests' certificates
command -v pg_ctlcluster >/dev/null || need_install+=(postgresql)
if [ ${#need_install[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}"
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
for _ in $(seq 1 50); do
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q; then
    exit 0
  fi
  sleep 0.2
done
echo "Redis or PostgreSQL did not come up" >&2
exit 1
