#!/usr/bin/env bash
# The proxy benchmark: wrk with keep-alive through whisgee's built-in proxy,
# through nginx and through haproxy, in one run, on loopback, against the
# same two workers: `whisgee bench-upstream` processes that `whisgee up`
# runs (workers.cmd), so the proxy, not a Python app, is the bottleneck.
# nginx and haproxy are configured comparably: 2 worker processes/threads,
# keep-alive upstream pools to the same worker sockets, logging off.
#
#   scripts/bench-proxy.sh            (make bench runs it after the Go benchmarks)
#
# Environment: BIN (whisgee binary, default bin/whisgee), DURATION (per run,
# default 10s), CONNS (wrk connections, default 64), THREADS (wrk threads,
# default 2), ROUNDS (runs per proxy, interleaved, each round in a new order;
# the medians count; default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/whisgee}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}

for tool in wrk nginx haproxy curl python3; do
  command -v "$tool" >/dev/null || { echo "bench-proxy: $tool is missing; apt-get install nginx haproxy wrk curl python3" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "bench-proxy: $BIN not built; run make build" >&2; exit 1; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# Short paths: Unix socket paths must stay under ~100 bytes.
RUN=$(mktemp -d /tmp/wgbench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
P_WHISGEE=$(free_port); P_ADMIN=$(free_port); P_NGINX=$(free_port); P_HAPROXY=$(free_port)

# --- whisgee up: the proxy and the two workers ------------------------------
cat >"$RUN/whisgee.yaml" <<EOF
workers:
  count: 2
  cmd: ["$BIN", "bench-upstream", "--fd", "{fd}"]
proxy:
  listen: 127.0.0.1:$P_WHISGEE
  admin: 127.0.0.1:$P_ADMIN
control:
  socket: $RUN/control.sock
run_dir: $RUN
EOF
"$BIN" up -c "$RUN/whisgee.yaml" --quiet >"$RUN/up.log" 2>&1 &
pids+=($!)

wait_ok() { # URL: wait up to 15s for a 200
  for _ in $(seq 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" = 200 ] && return 0
    sleep 0.1
  done
  echo "bench-proxy: $1 never answered 200" >&2
  cat "$RUN"/*.log >&2 2>/dev/null || true
  exit 1
}
wait_ok "http://127.0.0.1:$P_WHISGEE/"
for s in "$RUN/worker-0.sock" "$RUN/worker-1.sock"; do
  [ -S "$s" ] || { echo "bench-proxy: worker socket $s missing" >&2; exit 1; }
done

# --- nginx: 2 workers, keep-alive pool to the same sockets, no logs ---------
mkdir -p "$RUN/nginx"
cat >"$RUN/nginx/nginx.conf" <<EOF
user root;
worker_processes 2;
pid $RUN/nginx/nginx.pid;
error_log $RUN/nginx/error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $RUN/nginx/body;
  proxy_temp_path $RUN/nginx/proxy;
  fastcgi_temp_path $RUN/nginx/fastcgi;
  uwsgi_temp_path $RUN/nginx/uwsgi;
  scgi_temp_path $RUN/nginx/scgi;
  keepalive_requests 1000000;
  upstream wsgi {
    least_conn;
    server unix:$RUN/worker-0.sock;
    server unix:$RUN/worker-1.sock;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$P_NGINX;
    location / {
      proxy_pass http://wsgi;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
EOF
nginx -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" -g 'daemon off;' 2>>"$RUN/nginx/error.log" &
pids+=($!)

# --- haproxy: 2 threads, keep-alive reuse of the same sockets, no logs ------
cat >"$RUN/haproxy.cfg" <<EOF
global
  nbthread 2
  maxconn 8000
defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:$P_HAPROXY
  default_backend be
backend be
  balance leastconn
  server w0 $RUN/worker-0.sock
  server w1 $RUN/worker-1.sock
EOF
haproxy -f "$RUN/haproxy.cfg" -db >"$RUN/haproxy.log" 2>&1 &
pids+=($!)

wait_ok "http://127.0.0.1:$P_NGINX/"
wait_ok "http://127.0.0.1:$P_HAPROXY/"

# --- wrk ---------------------------------------------------------------------
# to_ms converts wrk's "123.45us", "1.23ms", "1.01s" to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "%.3f", v }'
}

declare -A ALL_RPS ALL_P50 ALL_P99 ERRS
run_wrk() { # NAME PORT
  local out rps p50 p99 errs
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$2/")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  printf '  %-8s %10.0f req/s   p50 %7.3f ms   p99 %7.3f ms  %s\n' "$1" "$rps" "$p50" "$p99" "$errs"
  ALL_RPS[$1]+="$rps "; ALL_P50[$1]+="$p50 "; ALL_P99[$1]+="$p99 "; ERRS[$1]+="$errs"
}
# median of the numbers given: the middle one (the lower middle of an even count)
median() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "bench-proxy: wrk -t$THREADS -c$CONNS -d$DURATION, keep-alive, 2 workers (whisgee bench-upstream) on Unix sockets, $(nproc) cores"
# Warm every proxy's pools first.
for port in "$P_WHISGEE" "$P_NGINX" "$P_HAPROXY"; do
  wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/" >/dev/null
done
# Each round starts with a different proxy, so none always runs first
# (or right after the same neighbour): on a shared machine order matters.
names=(whisgee nginx haproxy)
declare -A PORT=([whisgee]=$P_WHISGEE [nginx]=$P_NGINX [haproxy]=$P_HAPROXY)
for round in $(seq "$ROUNDS"); do
  echo "round $round:"
  for k in 0 1 2; do
    name=${names[$(( (round - 1 + k) % 3 ))]}
    run_wrk "$name" "${PORT[$name]}"
  done
done

echo
echo "median of $ROUNDS rounds (each figure on its own):"
declare -A RPS P50 P99
for name in whisgee nginx haproxy; do
  RPS[$name]=$(median "${ALL_RPS[$name]}"); P50[$name]=$(median "${ALL_P50[$name]}"); P99[$name]=$(median "${ALL_P99[$name]}")
  printf '  %-8s %10.0f req/s   p50 %7.3f ms   p99 %7.3f ms  %s\n' "$name" "${RPS[$name]}" "${P50[$name]}" "${P99[$name]}" "${ERRS[$name]}"
done
awk -v w="${RPS[whisgee]}" -v n="${RPS[nginx]}" -v h="${RPS[haproxy]}" \
    -v wp="${P99[whisgee]}" -v np="${P99[nginx]}" -v hp="${P99[haproxy]}" 'BEGIN {
  printf "\nwhisgee/nginx:   %.2fx req/s, p99 %.2fx\n", w / n, wp / np
  printf "whisgee/haproxy: %.2fx req/s, p99 %.2fx\n", w / h, wp / hp
  goal = (w >= h && wp <= hp) ? "met" : "not met"
  floor = (w >= 0.8 * n && wp <= 1.5 * np) ? "met" : "NOT MET"
  printf "goal (>= haproxy req/s, p99 <= haproxy): %s\n", goal
  printf "floor (>= 0.8x nginx req/s, p99 <= 1.5x nginx): %s\n", floor
}'
