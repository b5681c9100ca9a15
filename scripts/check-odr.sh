#!/usr/bin/env bash
# The ODR trap of TOOLCHAIN.md: the per-ISA objects (src/arch/*.cpp) are compiled with different -m
# flags. An inline function or template instance they emit as a weak symbol, also emitted by another
# object, is merged by the linker into one copy, maybe the AVX-512 one, which then runs on the SSE2
# path (SIGILL on an older CPU). This fails when a weak symbol is defined by two ISA objects,
# or by an AVX2/AVX-512 object and any other object of the library. Only code counts (nm types W and
# i); weak data (V, and the DW.ref.* personality pointers) holds no instructions.
# Usage: scripts/check-odr.sh [--known FILE] build/release/src/libsoftxent.a [more archives or objects]
#   --known FILE: demangled symbols (one a line, # comments) of open, reported defects: listed as
#   known instead of failing, so that any new one still fails. Empty the file with the fix.
set -euo pipefail
nm_tool="${NM:-nm}"
known_file=""
if [ "${1:-}" = "--known" ]; then
  known_file="$2"
  shift 2
fi
[ $# -ge 1 ] || { echo "usage: $0 [--known FILE] libsoftxent.a..." >&2; exit 2; }
is_known() {
  [ -n "$known_file" ] && grep -v '^#' "$known_file" | grep -qxF -- "$1"
}

failed=0
for input in "$@"; do
  [ -f "$input" ] || { echo "check-odr: $input does not exist" >&2; exit 2; }
  # nm -A prints "archive:member:address TYPE name" (or "object:address TYPE name").
  report=$("$nm_tool" -A --defined-only "$input" | awk '
    $2 ~ /^[Wi]$/ && $3 !~ /^DW\.ref\./ {
      where = $1; sub(/:[0-9a-fA-F]*$/, "", where)      # drop the address
      n = split(where, parts, ":"); object = parts[n]   # the member (or the object file)
      sub(/.*\//, "", object)
      if (!((($3) SUBSEP object) in seen)) {
        seen[$3, object] = 1
        objects[$3] = objects[$3] " " object
        count[$3]++
        if (object ~ /^(scalar|sse2|avx2|avx512|neon)\.(cpp|cc)\.o(bj)?$/) isa[$3]++
        if (object ~ /^(avx2|avx512)\.(cpp|cc)\.o(bj)?$/) wide[$3]++
      }
    }
    END {
      for (symbol in count)
        if (count[symbol] > 1 && (isa[symbol] > 1 || wide[symbol] > 0))
          print symbol "\t" objects[symbol]
    }')
  members=$("$nm_tool" -A --defined-only "$input" | awk '{ w = $1; sub(/:[0-9a-fA-F]*$/, "", w); n = split(w, p, ":"); print p[n] }' | sort -u | tr '\n' ' ')
  if [ -n "$report" ]; then
    new=0
    while IFS=$'\t' read -r symbol objects; do
      name=$(echo "$symbol" | c++filt)
      if is_known "$name"; then
        printf 'check-odr: known (open defect): %s\n      in:%s\n' "$name" "$objects"
      else
        new=1
        printf 'check-odr: %s: defined by more than one object, one of them an ISA object:\n  %s\n      in:%s\n' \
          "$input" "$name" "$objects"
      fi
    done <<< "$report"
    if [ $new -eq 1 ]; then failed=1; else echo "check-odr: $input: OK apart from known defects"; fi
  else
    echo "check-odr: $input: OK (objects: $members)"
  fi
done
exit $failed
