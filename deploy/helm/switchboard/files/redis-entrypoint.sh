#!/bin/sh
# Starts the bundled Redis with the chart's base config plus `requirepass` from REDIS_PASSWORD (the
# same Secret key the service reads), then any flags given.
#
# The password goes into a config file on a memory-backed volume, not onto the command line where
# `ps` and /proc/<pid>/cmdline would show it.
set -eu

base_conf="${REDIS_BASE_CONFIG:-/etc/switchboard-redis/redis.conf}"
run_dir="${REDIS_RUN_DIR:-/run/redis}"
if [ -z "${REDIS_PASSWORD:-}" ]; then
  echo "redis-entrypoint: REDIS_PASSWORD is empty: set secrets.REDIS_PASSWORD (or the key in existingSecret)" >&2
  exit 64
fi
case "$REDIS_PASSWORD" in
  *'
'*) echo "redis-entrypoint: REDIS_PASSWORD contains a line break" >&2; exit 64 ;;
esac

umask 077
conf="$run_dir/redis.conf"
# A double-quoted Redis config string: backslashes and quotes escaped, everything else literal.
escaped=$(printf '%s' "$REDIS_PASSWORD" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
{
  printf 'include %s\n' "$base_conf"
  printf 'requirepass "%s"\n' "$escaped"
} > "$conf"
unset REDIS_PASSWORD escaped
exec redis-server "$conf" "$@"
