#!/bin/sh
# Starts coturn with the chart's base config plus the shared TURN secret(s), then any flags given.
#
# TURN_SECRET is the same Secret key the service signs credentials with. It may hold several
# comma-separated secrets (the service signs with the first and TURN accepts all), so a rotation
# works the same on both sides. The secrets go into a config file on a memory-backed volume, not
# onto the command line where every process in the pod could read them from /proc.
set -eu
set -f # no globbing while splitting secrets

base_conf="${COTURN_BASE_CONFIG:-/etc/switchboard-coturn/turnserver.conf}"
run_dir="${COTURN_RUN_DIR:-/var/run/coturn}"
if [ -z "${TURN_SECRET:-}" ]; then
  echo "coturn-entrypoint: TURN_SECRET is empty: set secrets.TURN_SECRET (or the key in existingSecret)" >&2
  exit 64
fi

umask 077
conf="$run_dir/turnserver.conf"
cat "$base_conf" > "$conf"
printf 'pidfile=%s/turnserver.pid\nuserdb=%s/turndb\n' "$run_dir" "$run_dir" >> "$conf"

count=0
IFS=','
for secret in $TURN_SECRET; do
  # Trim surrounding blanks, as the service does when it splits the list.
  secret=$(printf '%s' "$secret" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
  [ -n "$secret" ] || continue
  case "$secret" in
    *'
'*) echo "coturn-entrypoint: a TURN_SECRET entry contains a line break" >&2; exit 64 ;;
  esac
  printf 'static-auth-secret=%s\n' "$secret" >> "$conf"
  count=$((count + 1))
done
unset IFS TURN_SECRET

if [ "$count" -eq 0 ]; then
  echo "coturn-entrypoint: TURN_SECRET holds no secret" >&2
  exit 64
fi

# TLS: coturn re-reads its --cert/--pkey files on SIGUSR2, and a renewed certificate Secret shows up
# in the mounted files without a restart. So a background loop sends SIGUSR2 every
# COTURN_TLS_RELOAD_SECONDS. `exec` below keeps this shell's PID, so $$ becomes turnserver's PID;
# the loop ends once that process is gone. Its output goes nowhere, so it holds no pipe open.
reload="${COTURN_TLS_RELOAD_SECONDS:-0}"
case "$reload" in
  ''|*[!0-9]*) echo "coturn-entrypoint: COTURN_TLS_RELOAD_SECONDS must be a whole number of seconds" >&2; exit 64 ;;
esac
if [ "$reload" -gt 0 ]; then
  turnserver_pid=$$
  (while sleep "$reload"; do kill -USR2 "$turnserver_pid" 2>/dev/null || exit 0; done) </dev/null >/dev/null 2>&1 &
fi
unset reload COTURN_TLS_RELOAD_SECONDS

exec turnserver -c "$conf" "$@"
