#!/usr/bin/env bash
# The test runner of `make check`: cmocka unit tests (TAP), then the integration tests in
# tests/integration/*.sh against the normal build and, at the same time, against the
# ASan/UBSan build, each pass in SB_STREAMS streams (default 2; SB_SERIAL=1: one pass after
# the other, one stream each).
# Every "ok"/"not ok" line counts; the last line is "N passed, N failed".
#   tests/run.sh [--unit-only] [--no-asan] [NAME...]   (NAME: an integration script's name)
set -u
cd "$(dirname "$0")/.."
top=$PWD
out=$top/tests/out
rm -rf "$out"
mkdir -p "$out"
chmod 755 "$out"
unit_only=0 asan=1 only=()
for a in "$@"; do
  case $a in
    --unit-only) unit_only=1 ;;
    --no-asan) asan=0 ;;
    *) only+=("$a") ;;
  esac
done
[ -d build/asan/bin ] || asan=0
passed=0 failed=0

# count FILE: adds FILE's "ok"/"not ok" lines to the totals; sets p and f to its own.
count() {
  p=$(grep -cE '^ok ' "$1")
  f=$(grep -cE '^not ok ' "$1")
  passed=$((passed + p))
  failed=$((failed + f))
}

run_unit() { # $1: dir of unit binaries
  local t log
  for t in "$1"/*_test; do
    [ -x "$t" ] || continue
    log=$out/unit-$(basename "$(dirname "$(dirname "$t")")")-$(basename "$t").log
    echo "== unit $(basename "$t") ($1)"
    CMOCKA_MESSAGE_OUTPUT=TAP timeout 120 "$t" >"$log" 2>&1
    local rc=$?
    grep -E '^(ok|not ok) ' "$log" | sed 's/^/   /'
    count "$log"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
      echo "not ok - $(basename "$t") exited $rc" | tee -a "$log"
      failed=$((failed + 1))
      tail -n 20 "$log"
    elif [ "$f" -gt 0 ]; then
      grep -A5 -E '^not ok ' "$log" | grep -vE '^(not )?ok ' | sed 's/^/   | /'
    fi
  done
}

# run_script BIN_DIR LABEL SCRIPT: one integration script against the daemons of BIN_DIR;
# its report on stdout; adds its counts to p_all and f_all.
run_script() {
  local s=$3 name log sandir
  name=$(basename "$s" .sh)
  log=$out/$2-$name.log
  sandir=$out/$2-$name.san
  mkdir -p "$sandir" && chmod 1777 "$sandir"
  echo "== integration $name ($2)"
  local t0=$SECONDS pre=()
  # a script that binds fixed ports ("# exclusive") runs alone: the other streams wait;
  # "# exclusive unless root": as root it has a network namespace of its own
  if grep -q '^# exclusive unless root' "$s"; then
    { [ "$(id -u)" = 0 ] && unshare --net true 2>/dev/null; } || pre=(flock "$out/.exclusive.lock")
  elif grep -q '^# exclusive' "$s"; then
    pre=(flock "$out/.exclusive.lock")
  fi
  SB_BIN=$top/$1 SB_TOOLS=$top/${1%/bin}/tests SB_OUT=$out/$2-$name \
    ASAN_OPTIONS="log_path=$sandir/asan:detect_leaks=1:abort_on_error=0" \
    UBSAN_OPTIONS="log_path=$sandir/ubsan:print_stacktrace=1" \
    "${pre[@]}" timeout 300 bash "$s" >"$log" 2>&1
  local rc=$?
  grep -E '^(ok|not ok) ' "$log" | sed 's/^/   /'
  echo "   ($((SECONDS - t0)) s)"
  p=$(grep -cE '^ok ' "$log")
  f=$(grep -cE '^not ok ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "   not ok - $name exited $rc"
    f=$((f + 1))
  fi
  if [ "$rc" -ne 0 ] || [ "$f" -gt 0 ]; then
    echo "   --- last lines of $log:"
    tail -n 30 "$log" | sed 's/^/   | /'
  fi
  if compgen -G "$sandir/*" >/dev/null; then
    echo "   not ok - sanitizer reports in $name:"
    head -n 40 "$sandir"/* | sed 's/^/   | /'
    f=$((f + 1))
  fi
  p_all=$((p_all + p)) f_all=$((f_all + f))
}

# the integration scripts to run (NAME arguments, else all), one path per line
list_scripts() {
  local s name
  for s in tests/integration/*.sh; do
    name=$(basename "$s" .sh)
    [ "$name" = lib ] && continue
    if [ ${#only[@]} -gt 0 ] && ! printf '%s\n' "${only[@]}" | grep -qx "$name"; then continue; fi
    echo "$s"
  done
}

# run_integration BIN_DIR LABEL: every integration script against the daemons of BIN_DIR,
# in SB_STREAMS streams at once (default 1), each taking the next script from a shared
# queue, each on its own part of SB_PORT_LO..SB_PORT_HI; the report on stdout, the totals
# "PASSED FAILED" in $out/LABEL.count.
run_integration() {
  local streams=${SB_STREAMS:-1} lo=${SB_PORT_LO:-20000} hi=${SB_PORT_HI:-32699} i
  local queue=$out/$2.queue pids=()
  list_scripts >"$queue"
  echo 0 >"$queue.next"
  local width=$(((hi - lo + 1) / streams))
  for ((i = 0; i < streams; i++)); do
    (
      p_all=0 f_all=0
      export SB_PORT_LO=$((lo + i * width)) SB_PORT_HI=$((lo + (i + 1) * width - 1))
      while :; do
        # take the next line of the queue
        n=$(flock "$queue.next" bash -c 'n=$(cat "$1"); echo $((n + 1)) >"$1"; echo "$n"' _ "$queue.next")
        s=$(sed -n "$((n + 1))p" "$queue")
        [ -n "$s" ] || break
        run_script "$1" "$2" "$s"
      done >"$out/$2.$i.report"
      echo "$p_all $f_all" >"$out/$2.$i.count"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}"
  local p_sum=0 f_sum=0 p f
  for ((i = 0; i < streams; i++)); do
    cat "$out/$2.$i.report"
    read -r p f <"$out/$2.$i.count" || { p=0 f=1; echo "not ok - stream $i of $2 left no totals"; }
    p_sum=$((p_sum + p)) f_sum=$((f_sum + f))
  done
  echo "$p_sum $f_sum" >"$out/$2.count"
}

# add_counts LABEL: the totals of a pass into passed, failed
add_counts() {
  local p f
  read -r p f <"$out/$1.count" || { p=0 f=1; echo "not ok - the $1 pass left no totals"; }
  passed=$((passed + p)) failed=$((failed + f))
}

run_unit build/tests
[ "$asan" = 1 ] && run_unit build/asan/tests
# Coverage-guided fuzzing of the parsers, bounded: FUZZ_SECONDS per target (0 skips).
if [ "$unit_only" = 0 ] && [ ${#only[@]} -eq 0 ] && [ "${FUZZ_SECONDS:-5}" -gt 0 ]; then
  echo "== fuzz (${FUZZ_SECONDS:-5} s per target)"
  tests/fuzz/run.sh "${FUZZ_SECONDS:-5}" >"$out/fuzz.log" 2>&1
  rc=$?
  grep -E '^(ok|not ok) ' "$out/fuzz.log" | sed 's/^/   /'
  count "$out/fuzz.log"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "   not ok - fuzz/run.sh exited $rc"; failed=$((failed + 1))
    tail -n 20 "$out/fuzz.log" | sed 's/^/   | /'
  fi
fi
if [ "$unit_only" = 0 ] && [ "$asan" = 1 ] && [ "${SB_SERIAL:-0}" = 0 ]; then
  # the two passes at once, each in two streams (they mostly wait on timers and the
  # network): each stream its own port range; the reports are printed one after the other
  SB_STREAMS=${SB_STREAMS:-2} SB_PORT_LO=20000 SB_PORT_HI=26349 \
    run_integration build/bin normal >"$out/normal.report" &
  n_pid=$!
  SB_STREAMS=${SB_STREAMS:-2} SB_PORT_LO=26350 SB_PORT_HI=32699 \
    run_integration build/asan/bin asan >"$out/asan.report" &
  a_pid=$!
  wait "$n_pid" "$a_pid"
  cat "$out/normal.report" "$out/asan.report"
  add_counts normal
  add_counts asan
elif [ "$unit_only" = 0 ]; then
  run_integration build/bin normal
  add_counts normal
  if [ "$asan" = 1 ]; then
    run_integration build/asan/bin asan
    add_counts asan
  fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
