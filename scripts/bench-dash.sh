#!/usr/bin/env bash
# bench-dash: the dashboard's costs, against its goals.
#   1. CPU of `whisgee dash` attached for DASH_BENCH_SECONDS (60) to 16
#      workers under load (demo traffic at DASH_BENCH_RATE req/s), refresh 1s,
#      in a 160x48 terminal: goal under 2% of one core.
#   2. Its peak RSS over that time: goal under 50 MB.
#   3. From `make demo` (already built) to the first frame with live data
#      (4/4 running and a req/s figure): goal under 2 s (worst of 3).
# Needs tmux and python3. Results go to .bench/dash.txt; exits 1 if a goal
# is missed. Everything listens on loopback and stops at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/whisgee}
SECS=${DASH_BENCH_SECONDS:-60}
RATE=${DASH_BENCH_RATE:-100}
WORKERS=16
for tool in tmux python3 awk; do
  command -v "$tool" >/dev/null || { echo "bench-dash: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "bench-dash: $BIN is missing; run make build" >&2; exit 1; }
BIN=$(realpath "$BIN")

mkdir -p .bench
dir=$(mktemp -d /tmp/wgbXXXXXX)
tsock="$dir/tmux"
up_pid=""
cleanup() {
  tmux -S "$tsock" kill-server 2>/dev/null || true
  if [ -n "$up_pid" ]; then kill -INT "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

# wait_for SECONDS CMD...: poll CMD until it succeeds, or fail.
wait_for() {
  local until=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $until ] || { echo "bench-dash: timed out waiting for: $*" >&2; exit 1; }
    sleep 0.1
  done
}

# ---- 1 and 2: dash attached to 16 loaded workers -------------------------
# The stack: `whisgee demo --plain` with a long --every is the daemon and
# the traffic generator with an idle printer; the dashboard under test is
# a separate `whisgee dash` process attached to its socket.
cfg="$dir/stack/whisgee.yaml"
"$BIN" demo --dir "$dir/stack" --workers "$WORKERS" --rate "$RATE" --plain --every 1h >"$dir/stack.log" 2>&1 &
up_pid=$!
wait_for 30 test -S "$dir/stack/control.sock"
wait_for 30 "$BIN" ctl -c "$cfg" status

tmux -S "$tsock" -f /dev/null new-session -d -x 160 -y 48 -s dash -- \
  env TERM=xterm-256color "$BIN" dash -c "$cfg" --refresh 1s
dash_pid=$(tmux -S "$tsock" display-message -p -t dash '#{pane_pid}')
sleep 5 # settle: history fills, the event backlog is drawn

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
t0=$(ticks "$dash_pid")
peak=0
for _ in $(seq "$SECS"); do
  sleep 1
  r=$(rss_kb "$dash_pid")
  [ "$r" -gt "$peak" ] && peak=$r
done
t1=$(ticks "$dash_pid")
tmux -S "$tsock" capture-pane -p -t dash >"$dir/screen.txt"
# Some workers may be down (the demo mix crashes one now and then): what
# matters is that the dashboard shows all 16 and live traffic.
grep -Eq "workers [0-9]+/$WORKERS running" "$dir/screen.txt" && grep -Eq '^req/s [1-9]' "$dir/screen.txt" || {
  echo "bench-dash: the dashboard did not show $WORKERS workers with traffic:" >&2; cat "$dir/screen.txt" >&2; exit 1; }
tmux -S "$tsock" send-keys -t dash q
cpu_pct=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$SECS" 'BEGIN {printf "%.2f", d / hz / s * 100}')
rss_mb=$(awk -v k="$peak" 'BEGIN {printf "%.1f", k / 1024}')
kill -INT "$up_pid"; wait "$up_pid" 2>/dev/null || true; up_pid=""

# ---- 3: time from `make demo` to its first live frame ----------------------
first_frame_ms() {
  local name=demo$1 start now scr
  start=$(date +%s%N)
  tmux -S "$tsock" -f /dev/null new-session -d -x 120 -y 36 -s "$name" -- \
    env TERM=xterm-256color TMPDIR="$dir" make -s demo
  while :; do
    scr=$(tmux -S "$tsock" capture-pane -p -t "$name" 2>/dev/null || true)
    now=$(date +%s%N)
    if grep -q "workers 4/4 running" <<<"$scr" && grep -Eq '^req/s [0-9]' <<<"$scr"; then
      break
    fi
    if [ $(((now - start) / 1000000)) -gt 30000 ]; then echo "bench-dash: no live frame in 30 s" >&2; exit 1; fi
    sleep 0.02
  done
  tmux -S "$tsock" send-keys -t "$name" q
  wait_for 30 bash -c "! tmux -S '$tsock' has-session -t '$name' 2>/dev/null"
  echo $(((now - start) / 1000000))
}
frames=()
for i in 1 2 3; do frames+=("$(first_frame_ms "$i")"); done
worst=$(printf '%s\n' "${frames[@]}" | sort -n | tail -1)

verdict() { awk -v v="$1" -v g="$2" 'BEGIN {print (v < g) ? "ok" : "MISSED"}'; }
{
  echo "whisgee dash benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo "dash CPU, $WORKERS workers at $RATE req/s, ${SECS}s at 1s refresh: ${cpu_pct}% of a core (goal < 2%) $(verdict "$cpu_pct" 2)"
  echo "dash peak RSS: ${rss_mb} MB (goal < 50 MB) $(verdict "$rss_mb" 50)"
  echo "make demo to first live frame: ${frames[*]} ms, worst ${worst} ms (goal < 2000 ms) $(verdict "$worst" 2000)"
} | tee .bench/dash.txt
! grep -q MISSED .bench/dash.txt
