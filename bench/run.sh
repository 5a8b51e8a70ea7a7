#!/usr/bin/env bash
# Benchmarks clusterdns side by side with Knot DNS (authoritative) and Unbound (cache) on this
# host's loopback. The server under test is confined to core 0; dnsperf and upstreams to core 1.
#   N=10000 DUR=10 ROUNDS=3 bash bench/run.sh
# Prints one table; see bench/README.md for what each figure means. CPU per query is measured
# ROUNDS times per server, the two servers of a pair taking turns, and reported as the median
# with the range: on a shared machine one run can be off by a quarter.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
DUR=${DUR:-10}
ROUNDS=${ROUNDS:-3}
HZ=$(getconf CLK_TCK)

need=()
for tool in dnsperf knotd unbound; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq dnsperf knot unbound >/dev/null
fi
cargo build --profile dist --quiet --bin clusterdns
cargo build --release --quiet -p testkit --bin k8s-fixture
BIN=target/dist/clusterdns

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    rmdir "$CPUSET"-* 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# pinned CORE CMD... : runs CMD in the background, confined to CORE. taskset alone does not
# confine Knot: its UDP workers set their own affinity, one per online CPU (udp-handler.c), so one
# of them would answer on dnsperf's core. A cpuset cgroup bounds what a process may ask for; where
# none can be made, taskset is used and `confined` reports any thread that left the core.
CPUSET=/sys/fs/cgroup/cpuset/clusterdns-bench-$$
for core in 0 1; do # cgroup v1 cpusets, one per core, where this host lets us make them
    mkdir "$CPUSET-$core" 2>/dev/null && echo "$core" >"$CPUSET-$core/cpuset.cpus" &&
        cat /sys/fs/cgroup/cpuset/cpuset.mems >"$CPUSET-$core/cpuset.mems" || rmdir "$CPUSET-$core" 2>/dev/null || true
done
pinned() {
    local core=$1 dir="$CPUSET-$1"; shift
    if [ -f "$dir/cgroup.procs" ]; then
        sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$dir" "$@" &
    else
        taskset -c "$core" "$@" &
    fi
}
# confined PID CORE NAME -> warns on stderr about threads allowed off CORE
confined() {
    local t
    for t in /proc/"$1"/task/*; do
        [ "$(awk '/^Cpus_allowed_list/ {print $2}' "$t/status" 2>/dev/null)" = "$2" ] ||
            echo "warning: a $3 thread ($(cat "$t/comm")) may run off core $2; its figures are not one core's" >&2
    done
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
wait_udp() { for _ in $(seq 200); do dig +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }

# fixed PID PORT FILE QPS -> "completed lost cpu_us_per_query"
fixed() {
    local t0 t1 out completed lost
    t0=$(ticks "$1")
    out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$2" -d "$3" -l "$DUR" -Q "$4" -c 20 2>&1)
    t1=$(ticks "$1")
    completed=$(echo "$out" | awk '/Queries completed/ {print $3}')
    lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
    echo "$completed $lost $(python3 -c "print(round(($t1-$t0)*1e6/$HZ/max($completed,1),2))")"
}
# turns PID_A PORT_A PID_B PORT_B FILE QPS -> "median_a range_a lost_a median_b range_b lost_b"
turns() {
    local a=() b=() la=0 lb=0 us lost
    for _ in $(seq "$ROUNDS"); do
        read -r _ lost us <<<"$(fixed "$1" "$2" "$5" "$6")"; a+=("$us"); la=$((la + lost))
        read -r _ lost us <<<"$(fixed "$3" "$4" "$5" "$6")"; b+=("$us"); lb=$((lb + lost))
    done
    python3 - "$la" "$lb" "${a[*]}" "${b[*]}" <<'PY'
import statistics, sys
la, lb, a, b = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
def fmt(v):
    v = [float(x) for x in v]
    return f"{statistics.median(v):.1f} {min(v):.1f}-{max(v):.1f}"
print(fmt(a), la, fmt(b), lb)
PY
}
row() { printf '%-40s %8s %11s %10s %8s %6s\n' "$@"; }
# maxqps PORT FILE -> queries per second with 100 queries outstanding
maxqps() { taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l "$DUR" -c 20 -q 100 2>&1 | awk '/Queries per second/ {printf "%d", $4}'; }

knot() { # knot ZONE_NAME ZONE_FILE PORT -> pid
    local dir="$WORK/knot-$3"; mkdir -p "$dir"
    cat > "$dir/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$3
    rundir: $dir
database:
    storage: $dir
zone:
  - domain: $1
    file: $2
log:
  - target: stderr
    any: error
CONF
    pinned "${4:-0}" knotd -c "$dir/knot.conf" >"$dir/log" 2>&1
    echo $!
}

row "scenario" "cpu us/q" "(range)" "max qps" "rss MB" "lost"

# --- kubernetes: N services and their EndpointSlices, against Knot serving the same names ---
target/release/k8s-fixture "$N" "$WORK" >"$WORK/fixture.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 600); do grep -q ready "$WORK/fixture.log" 2>/dev/null && break; sleep 0.1; done
P=$(port); R=$(port)
printf '.:%s {\n    bind 127.0.0.1\n    ready 127.0.0.1:%s\n    kubernetes cluster.local {\n        kubeconfig %s\n    }\n}\n' "$P" "$R" "$WORK/kubeconfig" >"$WORK/Corefile.k8s"
start=$(date +%s.%N)
pinned 0 "$BIN" -quiet -conf "$WORK/Corefile.k8s" >"$WORK/k8s.log" 2>&1
CD=$!; PIDS+=($CD)
until curl -sf "http://127.0.0.1:$R/ready" >/dev/null; do sleep 0.01; done
ready=$(python3 -c "print(round($(date +%s.%N)-$start,3))")
synced_rss=$(rss_mb "$CD")
KP=$(port); KNOT=$(knot cluster.local "$WORK/cluster.local.zone" "$KP"); PIDS+=("$KNOT")
wait_udp "$KP" svc-0.bench.svc.cluster.local
read -r cd_us cd_range cd_lost knot_us knot_range knot_lost <<<"$(turns "$CD" "$P" "$KNOT" "$KP" "$WORK/queries.txt" 10000)"
confined "$CD" 0 clusterdns; confined "$KNOT" 0 knot
row "clusterdns kubernetes, 10k QPS" "$cd_us" "$cd_range" "$(maxqps "$P" "$WORK/queries.txt")" "$(rss_mb "$CD")" "$cd_lost"
row "knot, same names, 10k QPS" "$knot_us" "$knot_range" "$(maxqps "$KP" "$WORK/queries.txt")" "$(rss_mb "$KNOT")" "$knot_lost"
echo "clusterdns ready ${ready}s after start ($N services); RSS ${synced_rss} MB when /ready first answered"
kill "$CD" "$KNOT"

# --- cache hits and forwarding: an upstream Knot zone, clusterdns cache+forward vs Unbound ---
awk 'BEGIN { print "$ORIGIN example.\n$TTL 3600\n@ SOA ns.example. h.example. 1 7200 1800 86400 60\n@ NS ns\nns A 127.0.0.1"; for (i = 0; i < 1000; i++) printf "h%d A 192.0.2.%d\n", i, i % 250 + 1 }' >"$WORK/example.zone"
awk 'BEGIN { for (i = 0; i < 1000; i++) printf "h%d.example A\n", i }' >"$WORK/names.txt"
UP=$(port); UPSTREAM=$(knot example "$WORK/example.zone" "$UP" 1); PIDS+=("$UPSTREAM")
wait_udp "$UP" h1.example
C=$(port)
printf '.:%s {\n    bind 127.0.0.1\n    cache 3600\n    forward . 127.0.0.1:%s\n}\n' "$C" "$UP" >"$WORK/Corefile.cache"
pinned 0 "$BIN" -quiet -conf "$WORK/Corefile.cache" >"$WORK/cache.log" 2>&1
CD=$!; PIDS+=($CD)
wait_udp "$C" h1.example
taskset -c 1 dnsperf -s 127.0.0.1 -p "$C" -d "$WORK/names.txt" -n 1 >/dev/null 2>&1
U=$(port)
cat >"$WORK/unbound.conf" <<CONF
server:
    interface: 127.0.0.1@$U
    port: $U
    do-daemonize: no
    use-syslog: no
    username: ""
    chroot: ""
    directory: "$WORK"
    pidfile: "$WORK/unbound.pid"
    access-control: 127.0.0.0/8 allow
    num-threads: 1
    do-not-query-localhost: no
    module-config: "iterator"
    verbosity: 0
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$UP
CONF
pinned 0 unbound -c "$WORK/unbound.conf" >"$WORK/unbound.log" 2>&1
UB=$!; PIDS+=($UB)
wait_udp "$U" h1.example
taskset -c 1 dnsperf -s 127.0.0.1 -p "$U" -d "$WORK/names.txt" -n 1 >/dev/null 2>&1
read -r cd_us cd_range cd_lost ub_us ub_range ub_lost <<<"$(turns "$CD" "$C" "$UB" "$U" "$WORK/names.txt" 10000)"
confined "$CD" 0 clusterdns; confined "$UB" 0 unbound
row "clusterdns cache hits, 10k QPS" "$cd_us" "$cd_range" "$(maxqps "$C" "$WORK/names.txt")" "$(rss_mb "$CD")" "$cd_lost"
row "unbound cache hits, 10k QPS" "$ub_us" "$ub_range" "$(maxqps "$U" "$WORK/names.txt")" "$(rss_mb "$UB")" "$ub_lost"
kill "$CD" "$UB"
F=$(port)
printf '.:%s {\n    bind 127.0.0.1\n    forward . 127.0.0.1:%s\n}\n' "$F" "$UP" >"$WORK/Corefile.forward"
pinned 0 "$BIN" -quiet -conf "$WORK/Corefile.forward" >"$WORK/forward.log" 2>&1
CD=$!; PIDS+=($CD)
wait_udp "$F" h1.example
read -r done lost us <<<"$(fixed "$CD" "$F" "$WORK/names.txt" 20000)"
row "clusterdns forwarding, 20k QPS" "$us" "-" "-" "$(rss_mb "$CD")" "$lost"
