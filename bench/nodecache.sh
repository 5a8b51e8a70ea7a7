#!/usr/bin/env bash
# node-cache's role as NodeLocal DNSCache runs it: the nodelocaldns overlay's Corefile and
# DaemonSet args, in a network namespace of its own (root), its cache filled with N names
# (half cluster names, forwarded over TCP, half external ones), then asked for them again.
#   N=10000 DUR=10 ROUNDS=3 bash bench/nodecache.sh
# Prints RSS before and after the fill and CPU per cached answer; see bench/README.md. On
# stderr: the anonymous and file-backed parts of RSS, and with SMAPS=1 RSS per mapping.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
DUR=${DUR:-10}
ROUNDS=${ROUNDS:-3}

if [ -z "${CLUSTERDNS_BENCH_NETNS:-}" ]; then
    need=()
    for tool in dnsperf dig iptables; do command -v "$tool" >/dev/null || need+=("$tool"); done
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq && apt-get install -y -qq dnsperf bind9-dnsutils iptables >/dev/null
    fi
    BIN=${BIN:-$(bash bench/dist.sh)}
    BIN=$BIN CLUSTERDNS_BENCH_NETNS=1 exec unshare --net --mount -- bash "$0"
fi

# BIN: the binary measured (bench/dist.sh's, the image's, unless given).
source bench/lib.sh
LOCAL=169.254.20.10
DNS_SERVER=10.96.0.10

ip link set lo up
# This kernel may lack dummy links: node-cache then reuses a link made beforehand.
ip link add nodelocaldns type dummy 2>/dev/null && ip link del nodelocaldns || ip link add nodelocaldns type bridge

# The cluster DNS (kube-dns-upstream) and the node's resolver: a clusterdns answering every name.
cat >"$WORK/upstream" <<'EOF'
cluster.local:53 {
    bind 127.0.0.1
    template IN A cluster.local {
        answer "{{ .Name }} 60 IN A 10.0.0.1"
    }
}
.:53 {
    bind 127.0.0.1
    template IN A {
        answer "{{ .Name }} 60 IN A 192.0.2.1"
    }
}
EOF
pinned 1 "$BIN" -conf "$WORK/upstream" -quiet >"$WORK/upstream.log" 2>&1
PIDS+=($!)
echo "nameserver 127.0.0.1" >"$WORK/resolv.conf"
mount --bind "$WORK/resolv.conf" /etc/resolv.conf

# The overlay's template and args, filled as the install docs' sed does.
fill() { sed "s/__PILLAR__LOCAL__DNS__/$LOCAL/g; s/__PILLAR__DNS__DOMAIN__/cluster.local/g; s/__PILLAR__DNS__SERVER__/$DNS_SERVER/g"; }
mkdir -p "$WORK/coredns"
python3 - manifests/overlays/nodelocaldns/nodelocaldns.yaml >"$WORK/coredns/Corefile.base" <<'EOF'
import sys
text = open(sys.argv[1]).read()
block = text.split("  Corefile: |\n", 1)[1].split("\n---", 1)[0]
print("\n".join(l[4:] for l in block.splitlines()))
EOF
fill <"$WORK/coredns/Corefile.base" >"$WORK/coredns/Corefile.filled" && mv "$WORK/coredns/Corefile.filled" "$WORK/coredns/Corefile.base"
ARGS=$(grep -o 'args: \[.*\]' manifests/overlays/nodelocaldns/nodelocaldns.yaml | fill | sed 's/^args: \[ *//; s/ *\]$//; s/", "/ /g; s/"//g')
# shellcheck disable=SC2086 # the manifest's args, split as the kubelet passes them
KUBE_DNS_UPSTREAM_SERVICE_HOST=127.0.0.1 pinned 0 "$BIN" $ARGS -conf "$WORK/Corefile" \
    -pidfile "$WORK/node-cache.pid" -basecorefile "$WORK/coredns/Corefile.base" \
    -kubednscm "$WORK/kube-dns" -metrics-listen-address 127.0.0.1:9353 >"$WORK/node-cache.log" 2>&1
PID=$!
PIDS+=("$PID")
for _ in $(seq 200); do dig +time=1 +tries=1 @"$LOCAL" x.cluster.local >/dev/null 2>&1 && break; sleep 0.05; done
kill -0 "$PID" 2>/dev/null || { cat "$WORK/node-cache.log" >&2; exit 1; }
sleep 1
idle=$(rss_mb "$PID")
grep -E "RssAnon|RssFile|Threads" /proc/$PID/status >&2

for i in $(seq $((N / 2))); do
    echo "svc-$i.default.svc.cluster.local A"
    echo "host-$i.example.com A"
done >"$WORK/names"
# Each name once: the cache fills (TTL 30 s, so the turns below stay within it).
taskset -c 1 dnsperf -s "$LOCAL" -d "$WORK/names" -n 1 -Q 5000 -c 20 >"$WORK/fill" 2>&1
filled=$(rss_mb "$PID")
grep -E "RssAnon|RssFile" /proc/$PID/status >&2
[ -n "${SMAPS:-}" ] && awk '/^[0-9a-f]+-/ {m=$1" "$NF} /^Rss:/ {if ($2 > 100) print $2, m}' /proc/$PID/smaps >&2
entries=$(curl -s 127.0.0.1:9253/metrics | awk '/^coredns_cache_entries\{.*type="success"/ {n += $2} END {print n + 0}')

us=()
lost=0
for _ in $(seq "$ROUNDS"); do
    read -r _ l u <<<"$(SERVER=$LOCAL fixed "$PID" 53 "$WORK/names" 10000)"
    us+=("$u")
    lost=$((lost + l))
done
confined "$PID" 0 node-cache
after=$(rss_mb "$PID")
rules=$(iptables-save | grep -c "NodeLocal DNS Cache" || true)
median=$(printf '%s\n' "${us[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
printf '| node-cache | rss MB idle | rss MB after %d names (%s cached) | cpu us/q cached, 10k QPS (median; turns) | lost | rules |\n' "$N" "$entries"
printf '| --- | --- | --- | --- | --- | --- |\n'
printf '| clusterdns | %s | %s (%s after the turns) | %s (%s) | %s | %s |\n' "$idle" "$filled" "$after" "$median" "${us[*]}" "$lost" "$rules"
