#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + ASan/UBSan/LSan) of the parsers that take hostile
# input: main.cf (cfg_fuzz), master.cf (mastercf_fuzz), IPC packets (envelope_fuzz) and
# SDP bodies as mediad reads and rewrites them (media_sdp_fuzz), apid's requests, published
# events and Redis records (api_fuzz), SIP messages and URIs as sipd reads them (sipmsg_fuzz).
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [NAME...]     (default 10 s; NAME: cfg, ...)
# Builds build/fuzz/<name>, copies the committed seeds (tests/fuzz/corpus/<name>/) into a
# temporary working corpus (the repo never grows), runs each target in turn for the given
# time and prints one TAP line per target. Inputs kept in tests/fuzz/crashes/<name>/ (bugs
# found earlier) are replayed first, one more TAP line per target that has any. A crash
# leaves its input in build/fuzz/crashes/<name>/ and the first 40 lines of the report
# here. Exits non-zero if anything failed. No network; bounded in time; fine as root.
set -u
cd "$(dirname "$0")/../.." || exit 1

secs=${1:-10}
case $secs in
  '' | *[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS_PER_TARGET] [NAME...]" >&2; exit 2 ;;
esac
[ "$secs" -ge 1 ] || secs=1
shift $(($# > 0 ? 1 : 0))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(cfg mastercf envelope media_sdp api sipmsg)

out=build/fuzz
cc=${FUZZ_CC:-clang}
command -v "$cc" >/dev/null 2>&1 || cc=clang-14
# shellcheck disable=SC2054 # the commas belong to -fsanitize=
CFLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=c11
        -D_GNU_SOURCE -I. -Ilib -Ishm -Ibuild/gen)
# The modules the harnesses use (see the brief in each *_fuzz.c); run.sh adds any lib/ or
# shm/ module whose header these include, so a module split out of another still links.
SOURCES=(lib/cfg.c lib/mastercf.c lib/roles.c lib/log.c lib/ipc.c shm/shm.c procs/apid/api.c
         procs/apid/api_base.c procs/apid/api_views.c procs/apid/api_records.c
         procs/apid/api_metrics.c procs/apid/api_sse.c procs/apid/api_gate.c
         procs/apid/api_auth.c
         procs/sipd/sipmsg.c procs/sipd/sipuri.c procs/sipd/sipconv.c procs/sipd/sipaddr.c)
failed=0

notok() { # $1: name, $2: reason
  echo "not ok - fuzz $1: $2"
  failed=$((failed + 1))
}

# report LOG: the sanitizer or harness report, from its first line, at most 40 lines.
report() {
  awk '/ERROR: |runtime error|_fuzz: |^==[0-9]+==|deadly signal|^SUMMARY/ {on = 1}
       on && n < 40 {print "#   | " $0; n++}' "$1"
  if ! grep -qE 'ERROR: |runtime error|_fuzz: |^==[0-9]+==|deadly signal' "$1"; then
    tail -n 40 "$1" | sed 's/^/#   | /'
  fi
}

# reason LOG RC: one line saying why a run failed.
reason() {
  local r
  local pat='ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer): .*'
  r=$(grep -m1 -oE "($pat|runtime error: .*|[a-z]+_fuzz: .*)" "$1" | cut -c1-160)
  if [ -z "$r" ]; then
    case $2 in
      124 | 137) r="no result within the time limit (killed)" ;;
      *) r="exited $2" ;;
    esac
  fi
  echo "$r"
}

# build: the objects once, then one binary per target; build/fuzz/build.log says why not.
build() {
  local log=$out/build.log src deps h c changed obj objs=()
  mkdir -p "$out/obj" "$out/crashes"
  : >"$log"
  if ! command -v "$cc" >/dev/null 2>&1; then
    echo "clang not found (make deps installs clang and libclang-rt-14-dev)" >"$log"
    return 1
  fi
  # Generated protobuf code, as make writes it; made here when make has not run (yet).
  local proto gens=()
  for proto in proto/*.proto; do
    c=build/gen/proto/$(basename "$proto" .proto).pb-c.c
    if [ ! -f "$c" ] || [ "$proto" -nt "$c" ]; then
      mkdir -p build/gen/proto
      protoc-c --proto_path=proto --c_out=build/gen/proto "$proto" >>"$log" 2>&1 || return 1
    fi
    gens+=("$c")
  done
  local pcflags pclibs
  read -ra pcflags <<<"$(pkg-config --cflags libuv libprotobuf-c libosip2 jansson libcrypto 2>>"$log")" &&
    read -ra pclibs <<<"$(pkg-config --libs libuv libprotobuf-c libosip2 jansson libcrypto 2>>"$log")" &&
    [ ${#pclibs[@]} -gt 0 ] || return 1
  # Close SOURCES over the lib/ and shm/ headers they and the harnesses include.
  for _ in 1 2 3 4 5; do
    changed=0
    deps=$("$cc" "${CFLAGS[@]}" -MM "${SOURCES[@]}" tests/fuzz/*_fuzz.c 2>>"$log" |
      tr -s ' \\' '\n' | sed 's|^\./||' | grep -E '^(lib|shm)/[A-Za-z0-9_]+\.h$' | sort -u)
    for h in $deps; do
      c=${h%.h}.c
      if [ -f "$c" ] && ! printf '%s\n' "${SOURCES[@]}" | grep -qx "$c"; then
        SOURCES+=("$c")
        changed=1
      fi
    done
    [ "$changed" = 0 ] && break
  done
  for src in "${SOURCES[@]}" "${gens[@]}"; do
    obj=$out/obj/$(echo "$src" | tr '/' '_').o
    "$cc" "${CFLAGS[@]}" "${pcflags[@]}" -c "$src" -o "$obj" >>"$log" 2>&1 || return 1
    objs+=("$obj")
  done
  for name in "${targets[@]}"; do
    "$cc" "${CFLAGS[@]}" "tests/fuzz/${name}_fuzz.c" "${objs[@]}" "${pclibs[@]}" -lrt \
      -o "$out/$name" >>"$log" 2>&1 || return 1
  done
  return 0
}

for name in "${targets[@]}"; do
  if [ ! -f "tests/fuzz/${name}_fuzz.c" ]; then
    echo "tests/fuzz/run.sh: no target $name (tests/fuzz/${name}_fuzz.c)" >&2
    exit 2
  fi
done

echo "# fuzz: building ${targets[*]} with $cc"
if ! build; then
  for name in "${targets[@]}"; do notok "$name" "build failed (see $out/build.log)"; done
  head -n 40 "$out/build.log" | sed 's/^/#   | /'
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sb-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
# Reports on stderr (not in a log_path the caller may have set), leaks checked at exit.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1:handle_abort=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:symbolize=1
export LSAN_OPTIONS=
limit=$((secs + 60)) # the fuzzer stops itself at max_total_time; this is the backstop

for name in "${targets[@]}"; do
  bin=$out/$name
  log=$out/$name.log
  crashdir=$out/crashes/$name
  mkdir -p "$crashdir"

  # Inputs that crashed before: each must now pass.
  regs=()
  if [ -d "tests/fuzz/crashes/$name" ]; then
    for f in "tests/fuzz/crashes/$name"/*; do [ -f "$f" ] && regs+=("$f"); done
  fi
  if [ ${#regs[@]} -gt 0 ]; then
    rlog=$out/$name-regressions.log
    timeout -k 10 $((limit + 5 * ${#regs[@]})) "$bin" -timeout=5 -rss_limit_mb=2048 \
      "${regs[@]}" >"$rlog" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
      echo "ok - fuzz $name regressions: ${#regs[@]} inputs from tests/fuzz/crashes/$name pass"
    else
      notok "$name regressions" "$(reason "$rlog" "$rc")"
      grep -E '^Running: ' "$rlog" | tail -n 1 | sed 's/^/#   input: /'
      report "$rlog"
    fi
  fi

  corpus=$work/corpus-$name
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
  dict=()
  if [ -f "tests/fuzz/$name.dict" ]; then
    cp "tests/fuzz/$name.dict" "$work/$name.dict"
    if [ "$name" = cfg ]; then # every parameter name, as $name too, from the table itself
      # shellcheck disable=SC2016 # the $ is for the dictionary, not the shell
      sed -n 's/^ *X(\([a-z0-9_]*\),.*/\1/p' lib/cfg_params.h |
        while read -r p; do printf '"%s"\n"$%s"\n"${%s}"\n' "$p" "$p" "$p"; done \
        >>"$work/$name.dict"
    fi
    dict=(-dict="$work/$name.dict")
  fi
  timeout -k 10 "$limit" "$bin" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="$crashdir/" "${dict[@]}" \
    "$corpus" >"$log" 2>&1
  rc=$?
  runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -n 1)
  if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
    echo "ok - fuzz $name: $runs runs, no crash"
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
    seeds=$(find "tests/fuzz/corpus/$name" -type f | wc -l)
    echo "# $name: $((runs / secs)) runs/s over ${secs}s; $seeds seeds; final $cov"
  else
    notok "$name" "$(reason "$log" "$rc")"
    art=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | sed 's/.* to //')
    [ -n "$art" ] && echo "#   crash input: $art (replay: $bin $art)"
    echo "#   full log: $log"
    report "$log"
  fi
done

[ "$failed" -eq 0 ]
