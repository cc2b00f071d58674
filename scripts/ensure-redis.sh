#!/usr/bin/env bash
# Make sure a Redis answers on 127.0.0.1:6379, for the integration tests.
# Order: one already answers -> done; redis-server installed -> start it; root with apt-get ->
# install it, then start it; otherwise say exactly what to run.
set -euo pipefail
HOST=127.0.0.1
PORT=6379

answers() {
  # PING over bash's /dev/tcp, so neither redis-cli nor Python is needed.
  local reply
  exec 3<>"/dev/tcp/$HOST/$PORT" 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || reply=""
  exec 3>&- 3<&-
  [[ "$reply" == +PONG* ]]
}

start_server() {
  redis-server --daemonize yes --bind "$HOST" --port "$PORT" --save "" --appendonly no \
    --dir /tmp --logfile /tmp/execagent-redis.log >/dev/null
  for _ in $(seq 1 50); do answers && return 0; sleep 0.1; done
  echo "redis-server started but does not answer on $HOST:$PORT; see /tmp/execagent-redis.log" >&2
  return 1
}

if answers; then exit 0; fi
if command -v redis-server >/dev/null 2>&1; then
  echo "starting redis-server on $HOST:$PORT"
  start_server
  exit $?
fi
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing redis-server with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  start_server
  exit $?
fi
cat >&2 <<MSG
No Redis answers on $HOST:$PORT and this script cannot install one (not root, or no apt-get).
Start one, then run 'make test' again, for example:
  sudo apt-get install redis-server && redis-server --daemonize yes --bind $HOST --port $PORT
or with Docker:
  docker run -d -p $HOST:$PORT:6379 redis:7
MSG
exit 1
