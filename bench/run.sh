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

need=()
for tool in dnsperf knotd unbound; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq dnsperf knot unbound >/dev/null
fi
BIN=$(bash bench/dist.sh)
cargo build --release --quiet -p testkit --bin k8s-fixture

source bench/lib.sh

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
