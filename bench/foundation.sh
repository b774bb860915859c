#!/usr/bin/env bash
# The foundation's figures: cold start, idle CPU, memory and wake-ups of an idle
# Switchboard cluster, next to Kamailio's idle figures when Kamailio is installed.
# A benchmark, not a test: it reports figures and exits 0 unless it could not measure.
# Loopback only; a private CONFDIR under a temp dir; kills only the PIDs it started.
#
#   bench/foundation.sh [-n CYCLES] [-w WINDOW_S] [-r REPEATS]
#   env: SB_BIN (build/bin), BENCH_COLD_N (15), BENCH_IDLE_WINDOW (10),
#        BENCH_IDLE_REPEATS (3), BENCH_SETTLE (2), BENCH_SKIP_KAMAILIO (unset)
#
# Output: readable tables, then a key=value block between "# BEGIN foundation" and
# "# END foundation" (medians, ms / % of one core / kB / wake-ups per second).
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SB_BIN=${SB_BIN:-$top/build/bin}
N=${BENCH_COLD_N:-15}
WIN=${BENCH_IDLE_WINDOW:-10}
REP=${BENCH_IDLE_REPEATS:-3}
SETTLE=${BENCH_SETTLE:-2}
ANCHORS=${BENCH_ANCHORS:-$(cd "$top/.." && pwd)/shared/bench-anchors}
while getopts n:w:r: o; do
  case $o in
    n) N=$OPTARG ;; w) WIN=$OPTARG ;; r) REP=$OPTARG ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
  esac
done

for b in master switchboard sipd routerd dialogd mediad apid; do
  [ -x "$SB_BIN/$b" ] || { echo "foundation: $SB_BIN/$b missing (make -j2)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || echo "foundation: not root: workers will not drop privileges" >&2

HZ=$(getconf CLK_TCK)
WORK=$(mktemp -d /tmp/sb-bench.XXXXXX)
chmod 755 "$WORK"
KV=$WORK/kv            # the machine-readable block, filled as we go
: >"$KV"
SHM_SEEN=""            # /dev/shm segments our masters mapped
FG_PID=""              # a master we started in the foreground
K_PID=""               # the Kamailio we started

kv() { echo "$1=$2" >>"$KV"; }
now_us() { echo "${EPOCHREALTIME/./}"; }
# median of the numbers on stdin (mean of the two middle ones when even)
median() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "n/a"; exit }
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  s = sprintf("%.3f", m); sub(/\.?0+$/, "", s); print s }'; }
minmax() { sort -g | awk 'NR == 1 { mn = $1 } { mx = $1 } END { print mn, mx }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
. "$top/tests/confdir.sh" # free_port, make_confdir

# ---------------------------------------------------------------- the CONFDIR
CONF=$WORK/conf
make_confdir "$CONF" "$SB_BIN"

sb() { "$SB_BIN/switchboard" -c "$CONF" "$@"; }
master_pid() { cat "$CONF/run/master.pid" 2>/dev/null; }
EXPECT=0               # rows of a fully ready `switchboard status` (master included)
all_ready() {
  sb status 2>/dev/null | awk -v want="$EXPECT" 'NR > 1 { n++; if ($4 != "ready") bad = 1 }
    END { exit !(n == want && !bad) }'
}
note_shm() {
  local m=$1 s
  s=$(grep -o '/dev/shm/switchboard-[0-9a-f]*' /proc/"$m"/maps 2>/dev/null | head -n 1)
  [ -n "$s" ] && case " $SHM_SEEN " in *" $s "*) ;; *) SHM_SEEN="$SHM_SEEN $s" ;; esac
  return 0
}

# Stop what we started: our cluster (by its pid file and our foreground PID), our Kamailio.
cleanup() {
  local m kids
  for m in $(master_pid) $FG_PID; do
    kill -0 "$m" 2>/dev/null || continue
    kids=$(pgrep -P "$m")
    kill "$m" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$m" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$m" $kids 2>/dev/null
  done
  if [ -n "$K_PID" ] && kill -0 "$K_PID" 2>/dev/null; then
    kids=$(pgrep -P "$K_PID")
    kill "$K_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$K_PID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$K_PID" $kids 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_cluster() {
  local out
  out=$(sb stop 2>&1) || { echo "foundation: stop failed: $out" >&2; cleanup_cluster_hard; }
  if [ -n "$FG_PID" ]; then wait "$FG_PID" 2>/dev/null; FG_PID=""; fi
}
cleanup_cluster_hard() {
  local m kids
  m=$(master_pid)
  [ -n "$m" ] || m=$FG_PID
  [ -n "$m" ] || return 0
  kids=$(pgrep -P "$m")
  kill -9 "$m" $kids 2>/dev/null
  rm -f "$CONF/run/master.pid"
}

echo "== Switchboard foundation bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores," \
  "$(uname -r); CONFDIR $CONF"

# ---------------------------------------------------------------- cold start
# A warm-up cycle (not counted) fills the page cache and tells how many rows a fully
# ready status has.
if ! out=$(sb start 2>&1); then
  echo "foundation: switchboard start failed: $out" >&2
  tail -n 20 "$CONF/run/switchboard.log" >&2 2>/dev/null
  exit 1
fi
EXPECT=$(sb status | awk 'NR > 1' | wc -l)
note_shm "$(master_pid)"
stop_cluster
echo "cold start: $N cycles of each way (after one warm-up), a cluster of $EXPECT processes"

: >"$WORK/cold_sb"; : >"$WORK/cold_fg"
for i in $(seq 1 "$N"); do
  # 1) switchboard start: returns once every process is ready.
  t0=$(now_us)
  out=$(sb start 2>&1); rc=$?
  t1=$(now_us)
  if [ "$rc" != 0 ]; then echo "foundation: start #$i failed: $out" >&2; exit 1; fi
  all_ready || echo "foundation: start #$i returned before every process was ready" >&2
  echo $((t1 - t0)) >>"$WORK/cold_sb"
  note_shm "$(master_pid)"
  stop_cluster

  # 2) master -f in the background, `switchboard status` polled every 5 ms.
  t0=$(now_us)
  "$SB_BIN/master" -c "$CONF" -f >>"$WORK/master-fg.log" 2>&1 &
  FG_PID=$!
  deadline=$((t0 + 15000000))
  until all_ready; do
    if [ "$(now_us)" -gt "$deadline" ] || ! kill -0 "$FG_PID" 2>/dev/null; then
      echo "foundation: master -f #$i not ready within 15 s" >&2
      tail -n 20 "$WORK/master-fg.log" >&2
      exit 1
    fi
    sleep 0.005
  done
  t1=$(now_us)
  echo $((t1 - t0)) >>"$WORK/cold_fg"
  note_shm "$FG_PID"
  stop_cluster
done

printf '\n%-40s %9s %9s %9s\n' "cold start (ms, n=$N)" median min max
for way in sb fg; do
  case $way in
    sb) label="switchboard start (returns when ready)"; key=cold_start_switchboard_ms ;;
    fg) label="master -f until status all ready"; key=cold_start_master_fg_ms ;;
  esac
  med=$(median <"$WORK/cold_$way"); read -r mn mx < <(minmax <"$WORK/cold_$way")
  printf '%-40s %9s %9s %9s\n' "$label" "$(ms "$med")" "$(ms "$mn")" "$(ms "$mx")"
  kv "${key}_median" "$(ms "$med")"; kv "${key}_min" "$(ms "$mn")"; kv "${key}_max" "$(ms "$mx")"
done
kv cold_start_cycles "$N"
kv cluster_processes "$EXPECT"

# ---------------------------------------------------------------- idle figures
# snap FILE: one line per process of $WORK/procs ("key pid"):
#   key pid ticks(utime+stime) ctxsw(all threads) cpu_ns(schedstat, all threads) threads
snap() {
  local key pid st rest ctx ns thr
  while read -r key pid; do
    st=$(cat /proc/"$pid"/stat 2>/dev/null) || { echo "$key $pid gone"; continue; }
    rest=${st##*) }
    # shellcheck disable=SC2086
    set -- $rest
    read -r ctx thr < <(cat /proc/"$pid"/task/*/status 2>/dev/null | awk '
      /^voluntary_ctxt_switches|^nonvoluntary_ctxt_switches/ { s += $2 }
      /^Pid:/ { t++ } END { print s + 0, t + 0 }')
    ns=$(cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }')
    echo "$key $pid $((${12} + ${13})) $ctx ${ns:-0} $thr"
  done <"$WORK/procs"
}
mem() { # key rss_kB pss_kB for each process
  local key pid rss pss
  while read -r key pid; do
    rss=$(awk '/^VmRSS:/ { print $2 }' /proc/"$pid"/status 2>/dev/null)
    pss=n/a
    [ -r /proc/"$pid"/smaps_rollup ] &&
      pss=$(awk '/^Pss:/ { print $2 }' /proc/"$pid"/smaps_rollup 2>/dev/null)
    echo "$key ${rss:-0} ${pss:-n/a}"
  done <"$WORK/procs"
}

# measure_idle NAME: $WORK/procs lists the processes; REP windows of WIN seconds after
# SETTLE seconds; writes $WORK/NAME.rows: rep key cpu% cpu%(ns) wakeups/s rss pss threads
measure_idle() {
  local name=$1 r a b ta tb
  : >"$WORK/$name.rows"
  sleep "$SETTLE"
  for r in $(seq 1 "$REP"); do
    ta=$(now_us); snap >"$WORK/a"
    sleep "$WIN"
    snap >"$WORK/b"; tb=$(now_us)
    mem >"$WORK/m"
    awk -v r="$r" -v hz="$HZ" -v us=$((tb - ta)) '
      FILENAME == ARGV[1] { a[$1] = $0; next }
      FILENAME == ARGV[2] { b[$1] = $0; next }
      { split(a[$1], x, " "); split(b[$1], y, " "); s = us / 1e6
        if (x[3] == "gone" || y[3] == "gone" || x[2] != y[2]) { print r, $1, "gone"; next }
        printf "%d %s %.3f %.4f %.2f %s %s %d\n", r, $1, 100 * (y[3] - x[3]) / hz / s,
          100 * (y[5] - x[5]) / 1e9 / s, (y[4] - x[4]) / s, $2, $3, y[6] }
    ' "$WORK/a" "$WORK/b" "$WORK/m" >>"$WORK/$name.rows"
    echo "  window $r/$REP: $(awk -v r="$r" '$1 == r { c += $3; n += $4; w += $5 }
      END { printf "cpu %.2f%% (schedstat %.3f%%), %.1f wake-ups/s", c, n, w }' "$WORK/$name.rows")"
  done
  if grep -q ' gone$' "$WORK/$name.rows"; then
    echo "foundation: a $name process exited or restarted during the windows:" >&2
    grep ' gone$' "$WORK/$name.rows" >&2
  fi
}

# total COLUMN ROWS: the median over the windows of the per-window sum of a column
total() {
  awk -v f="$1" '$3 != "gone" && $f != "n/a" { s[$1] += $f; n[$1]++ }
    END { for (r in s) printf "%.4f\n", s[r] }' "$2" | median
}

# report NAME PREFIX: per-process medians over the windows, totals (median of per-window
# sums), table + kv lines under PREFIX.
report() {
  local name=$1 pfx=$2 key c n w rss pss thr
  local rows=$WORK/$name.rows
  printf '\n%-24s %8s %10s %11s %9s %9s %4s\n' "$name idle (median/$REP)" \
    "cpu%" "cpu%(ns)" "wakeups/s" "RSS kB" "PSS kB" thr
  for key in $(awk '{ print $1 }' "$WORK/procs"); do
    c=$(awk -v k="$key" '$2 == k && $3 != "gone" { print $3 }' "$rows" | median)
    n=$(awk -v k="$key" '$2 == k && $3 != "gone" { print $4 }' "$rows" | median)
    w=$(awk -v k="$key" '$2 == k && $3 != "gone" { print $5 }' "$rows" | median)
    rss=$(awk -v k="$key" '$2 == k && $3 != "gone" { print $6 }' "$rows" | median)
    pss=$(awk -v k="$key" '$2 == k && $3 != "gone" && $7 != "n/a" { print $7 }' "$rows" | median)
    thr=$(awk -v k="$key" '$2 == k && $3 != "gone" { print $8 }' "$rows" | tail -n 1)
    printf '%-24s %8s %10s %11s %9s %9s %4s\n' "$key" "$c" "$n" "$w" "$rss" "$pss" "$thr"
    kv "${pfx}idle_cpu_pct.$key" "$c"; kv "${pfx}wakeups_per_s.$key" "$w"
    kv "${pfx}rss_kb.$key" "$rss"; kv "${pfx}pss_kb.$key" "$pss"
  done
  T_cpu_pct=$(total 3 "$rows"); T_cpu_pct_ns=$(total 4 "$rows")
  T_wakeups_per_s=$(total 5 "$rows"); T_rss_kb=$(total 6 "$rows"); T_pss_kb=$(total 7 "$rows")
  printf '%-24s %8s %10s %11s %9s %9s\n' "TOTAL ($(wc -l <"$WORK/procs") processes)" \
    "$T_cpu_pct" "$T_cpu_pct_ns" "$T_wakeups_per_s" "$T_rss_kb" "$T_pss_kb"
  kv "${pfx}idle_cpu_pct_total_median" "$T_cpu_pct"
  kv "${pfx}idle_cpu_pct_ns_total_median" "$T_cpu_pct_ns"
  kv "${pfx}wakeups_per_s_total_median" "$T_wakeups_per_s"
  kv "${pfx}rss_kb_total" "$T_rss_kb"
  kv "${pfx}pss_kb_total" "$T_pss_kb"
  kv "${pfx}processes" "$(wc -l <"$WORK/procs")"
}

echo
echo "idle: settle ${SETTLE} s, then $REP windows of ${WIN} s (cpu% = % of one core;" \
  "CLK_TCK=$HZ, so 1 tick per window = $(awk -v h="$HZ" -v w="$WIN" 'BEGIN { printf "%.2f", 100 / h / w }')%)"
out=$(sb start 2>&1) || { echo "foundation: start failed: $out" >&2; exit 1; }
M=$(master_pid)
note_shm "$M"
{
  echo "master $M"
  sb status | awk 'NR > 1 && $1 != "master" { print $1 "." $2, $3 }'
} >"$WORK/procs"
echo "Switchboard:"
measure_idle switchboard
SB_AFTER=$(sb status | awk 'NR > 1 { print $1, $2, $3, $6 }')
stop_cluster
report switchboard ""
awk '$4 != 0 { print "foundation: " $1 "." $2 " restarted " $4 " times during the bench" }' \
  <<<"$SB_AFTER" >&2
T_SB_CPU=$T_cpu_pct; T_SB_NS=$T_cpu_pct_ns; T_SB_RSS=$T_rss_kb; T_SB_PSS=$T_pss_kb
T_SB_WAKE=$T_wakeups_per_s
goal=$(awk -v c="$T_SB_CPU" 'BEGIN { print (c < 0.5) ? "met" : "NOT met" }')
echo "goal: idle CPU < 0.5% total: $goal"
kv idle_cpu_goal_lt_0_5_pct "$goal"
echo "busy at idle (> 1 wake-up/s):"
awk '{ print $1 }' "$WORK/procs" | while read -r key; do
  awk -v k="$key" '$2 == k && $3 != "gone" { print $5 }' "$WORK/switchboard.rows" | median |
    awk -v k="$key" '$1 > 1 { printf "  %s: %s/s\n", k, $1; f = 1 } END { exit !f }'
done || true

# ---------------------------------------------------------------- Kamailio anchor
echo
if [ -n "${BENCH_SKIP_KAMAILIO:-}" ]; then
  echo "kamailio: skipped (BENCH_SKIP_KAMAILIO)"; kv kamailio skipped
elif ! command -v kamailio >/dev/null; then
  echo "kamailio not installed: skipped"; kv kamailio not_installed
elif [ ! -r "$ANCHORS/kamailio.cfg" ]; then
  echo "kamailio: $ANCHORS/kamailio.cfg missing: skipped"; kv kamailio no_config
else
  # The anchor's config on a free port with a private ctl socket (other benches may run
  # the anchor on 5070 at the same time); the start line of $ANCHORS/README.md.
  KDIR=$WORK/kamailio
  mkdir -p "$KDIR"
  kport=$(free_port)
  sed -e "s/^listen=udp:127.0.0.1:5070/listen=udp:127.0.0.1:$kport/" \
      -e "s|unix:/tmp/kamailio-anchor-ctl|unix:$KDIR/ctl|" \
      "$ANCHORS/kamailio.cfg" >"$KDIR/kamailio.cfg"
  kamailio -f "$KDIR/kamailio.cfg" -P "$KDIR/pid" -m 256 -M 32 -E >"$KDIR/log" 2>&1
  for _ in $(seq 1 200); do [ -s "$KDIR/pid" ] && break; sleep 0.05; done
  K_PID=$(cat "$KDIR/pid" 2>/dev/null)
  if [ -z "$K_PID" ] || ! kill -0 "$K_PID" 2>/dev/null; then
    echo "kamailio: did not start: skipped"; tail -n 5 "$KDIR/log"; kv kamailio failed
  else
    # Wait until the set of children is stable, then name them after `kamcmd ps`.
    prev=""
    for _ in $(seq 1 40); do
      cur=$(pgrep -P "$K_PID" | sort -n | tr '\n' ' ')
      [ -n "$cur" ] && [ "$cur" = "$prev" ] && break
      prev=$cur; sleep 0.25
    done
    kver=$(kamailio -v 2>/dev/null | awk 'NR == 1 { print $3 }')
    declare -A kdesc=()
    if command -v kamcmd >/dev/null; then
      while IFS=$'\t' read -r p d; do
        [[ $p =~ ^[0-9]+$ ]] && kdesc[$p]=$d
      done < <(kamcmd -s "unix:$KDIR/ctl" ps 2>/dev/null)
    fi
    {
      echo "kamailio.main $K_PID"
      i=0; used=" "
      for p in $(pgrep -P "$K_PID" | sort -n); do
        d=${kdesc[$p]:-child$i}
        d=${d%% sock=*}; d=${d/receiver child=/rx}
        d=$(tr -c 'A-Za-z0-9\n' '_' <<<"$d" | tr -s _ | sed 's/_$//')
        case $used in *" $d "*) d=$d$i ;; esac
        used="$used$d "
        echo "kamailio.$d $p"
        i=$((i + 1))
      done
    } >"$WORK/procs"
    echo "Kamailio $kver ($ANCHORS/kamailio.cfg, -m 256 -M 32, udp 127.0.0.1:$kport):"
    measure_idle kamailio
    report kamailio "kamailio_"
    kv kamailio_version "$kver"
    kill "$K_PID"
    for _ in $(seq 1 100); do kill -0 "$K_PID" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$K_PID" 2>/dev/null && kill -9 "$K_PID" $(pgrep -P "$K_PID") 2>/dev/null
    K_PID=""
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0)
      print "n/a"; else printf "%.2f", a / b }'; }
    echo
    printf '%-34s %12s %12s %8s\n' "idle, Switchboard vs Kamailio" Switchboard Kamailio ratio
    for row in "cpu% (ticks):$T_SB_CPU:$T_cpu_pct:ratio_idle_cpu" \
               "cpu% (schedstat ns):$T_SB_NS:$T_cpu_pct_ns:ratio_idle_cpu_ns" \
               "wake-ups/s:$T_SB_WAKE:$T_wakeups_per_s:ratio_wakeups" \
               "RSS total kB:$T_SB_RSS:$T_rss_kb:ratio_rss_total" \
               "PSS total kB:$T_SB_PSS:$T_pss_kb:ratio_pss_total"; do
      IFS=: read -r l a b k <<<"$row"
      printf '%-34s %12s %12s %8s\n' "$l" "$a" "$b" "$(ratio "$a" "$b")"
      kv "${k}_sb_over_kamailio" "$(ratio "$a" "$b")"
    done
  fi
fi

# ---------------------------------------------------------------- cleanup checks
left=""
for s in $SHM_SEEN; do [ -e "$s" ] && left="$left $s"; done
st=$(sb status 2>&1); rc=$?
echo
echo "after: switchboard status: $st (exit $rc); shm left from our runs: ${left:-none}"
kv shm_left "${left:-none}"

echo
echo "# BEGIN foundation"
echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cores=$(nproc)"
echo "clk_tck=$HZ"
echo "idle_window_s=$WIN"
echo "idle_repeats=$REP"
cat "$KV"
echo "# END foundation"
exit 0
