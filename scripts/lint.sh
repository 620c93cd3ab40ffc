#!/usr/bin/env bash
# clang-tidy over the project's sources, with the checks in .clang-tidy, on every core.
#   scripts/lint.sh                  every tracked .cpp (tests/fuzz/ excepted)
#   scripts/lint.sh FILE.cpp …       just these
#   scripts/lint.sh --fix [FILE …]   also apply the fixes clang-tidy offers (review them with git diff)
#   scripts/lint.sh -j N …           N clang-tidy processes at once (default: nproc)
# Prints each warning once (a header's warning is not repeated for every file that includes it)
# and a count per check; exits 1 when there is any warning or error, 2 on a setup problem.
# Uses build/debug/compile_commands.json (configures the debug preset if it is missing; builds
# nothing). A Beast-heavy file takes clang-tidy 15-30 s and ~650 MB; the whole tree a few minutes.
# Needs Debian 12's clang-tidy (14) and cmake:
#   scripts/install-deps.sh lint       (run first: clang-tidy, and what configuring the debug preset needs)
set -euo pipefail
here=$(pwd)
cd "$(dirname "$0")/.."
root=$(pwd -P)
build=build/debug

fix=0
jobs=$(nproc 2>/dev/null || echo 2)
files=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fix) fix=1 ;;
    -j) jobs=${2:?-j needs a number}; shift ;;
    -j*) jobs=${1#-j} ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "lint: unknown option $1 (try --help)" >&2; exit 2 ;;
    *)
      # Paths are taken relative to where the script was started.
      f=$1
      [[ "$f" == /* ]] || f="$here/$f"
      [[ -f "$f" ]] || { echo "lint: no such file: $1" >&2; exit 2; }
      files+=("$(realpath "$f")") ;;
  esac
  shift
done

bash scripts/install-deps.sh lint || exit 2
if ! command -v clang-tidy >/dev/null; then
  echo "lint: clang-tidy not found: scripts/install-deps.sh lint (or apt-get install clang-tidy)" >&2
  exit 2
fi
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "lint: configuring the debug preset for $build/compile_commands.json" >&2
  cmake --preset debug >/dev/null
fi
db="$build/compile_commands.json"

if [[ ${#files[@]} -eq 0 ]]; then
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    while IFS= read -r f; do
      if [[ -f "$f" ]]; then files+=("$root/$f"); fi  # one deleted from the work tree is passed over
    done < <(git ls-files -- '*.cpp' ':(exclude)tests/fuzz/**')
  else
    mapfile -t files < <(find "$root" -path "$root/build" -prune -o -path "$root/tests/fuzz" -prune -o \
      -name '*.cpp' -type f -print)
  fi
fi

# Only what the build compiles has compile flags; a header is checked through the sources
# that include it. When a source is missing from the database and a CMake file changed since
# the database was written (files were added or moved), configure once more and look again.
in_db() { sed -n 's/^ *"file": "\(.*\)",\{0,1\}$/\1/p' "$db"; }
known=$(in_db)
for f in "${files[@]}"; do
  if [[ "$f" == *.cpp ]] && ! grep -qxF -- "$f" <<<"$known"; then
    if [[ -n "$(find . -path ./build -prune -o \( -name CMakeLists.txt -o -name '*.cmake' \
      -o -name CMakePresets.json \) -newer "$db" -print -quit)" ]]; then
      echo "lint: $db is older than the CMake files: configuring the debug preset again" >&2
      cmake --preset debug >/dev/null || echo "lint: cmake --preset debug failed; using the old database" >&2
      known=$(in_db)
    fi
    break
  fi
done
targets=()
for f in "${files[@]}"; do
  if grep -qxF -- "$f" <<<"$known"; then
    targets+=("$f")
  elif [[ "$f" == *.h || "$f" == *.hpp ]]; then
    echo "lint: skipping ${f#"$root"/}: headers are checked through the .cpp files that include them" >&2
  else
    echo "lint: skipping ${f#"$root"/}: not in $db (not part of the build?)" >&2
  fi
done
[[ ${#targets[@]} -gt 0 ]] || { echo "lint: nothing to check" >&2; exit 2; }

apply=()
if [[ $fix -eq 1 ]]; then
  # Parallel runs must not edit a shared header at the same time: each run exports its fixes and
  # clang-apply-replacements applies them all once, without duplicates.
  if command -v clang-apply-replacements >/dev/null; then
    apply=(clang-apply-replacements -format -style=file)
  else
    echo "lint: clang-apply-replacements not found: fixing one file at a time" >&2
    jobs=1
  fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out" "$tmp/fixes"
# Warnings in the project's own headers only: the top-level folders that hold tracked headers,
# anchored at this checkout, so neither build/ nor system and Boost headers ever match.
root_re=$(printf '%s' "$root" | sed 's/[][\.*^$()+?{}|]/\\&/g')
folders=$( (git ls-files -- '*.h' '*.hpp' 2>/dev/null || true) | sed -n 's|^\([^/]*\)/.*|\1|p' |
  { grep -vx build || true; } | sort -u | paste -sd '|' -)
[[ -n "$folders" ]] || folders='assets|cli|core|net|proxy|speaker|testclient|tests|twilio'
header_filter="^$root_re/($folders)/"

run_one() {  # $1: index, $2: absolute path of a .cpp
  local out="$tmp/out/$1" args=(-p "$build" --quiet "--header-filter=$header_filter")
  if [[ $fix -eq 1 ]]; then
    if [[ $export_fixes -eq 1 ]]; then args+=("--export-fixes=$tmp/fixes/$1.yaml"); else args+=(--fix); fi
  fi
  local start=$SECONDS rc=0
  clang-tidy "${args[@]}" "$2" >"$out.txt" 2>"$out.err" || rc=$?
  echo "$rc" >"$out.rc"
  local n
  n=$(grep -cE '^/.*:[0-9]+:[0-9]+: (warning|error): ' "$out.txt" || true)
  printf 'lint: %-44s %3s diagnostics  %3ss\n' "${2#"$root"/}" "$n" $((SECONDS - start)) >&2
}
export -f run_one
export_fixes=$(( ${#apply[@]} > 0 ))
export tmp build header_filter fix root export_fixes

echo "lint: clang-tidy on ${#targets[@]} file(s), $jobs at a time" >&2
for i in "${!targets[@]}"; do printf '%s\0%s\0' "$i" "${targets[$i]}"; done |
  xargs -0 -n 2 -P "$jobs" bash -c 'run_one "$1" "$2"' _

# Failures that are not diagnostics (a crash, an unreadable compile database).
failed=0
for i in "${!targets[@]}"; do
  rc=$(cat "$tmp/out/$i.rc")
  if [[ "$rc" != 0 ]] && ! grep -qE '^/.*: (warning|error): ' "$tmp/out/$i.txt"; then
    echo "lint: clang-tidy failed on ${targets[$i]#"$root"/} (exit $rc):" >&2
    sed 's/^/  /' "$tmp/out/$i.err" >&2
    failed=1
  fi
done

# Every diagnostic once, in file order, with its notes and source lines; then the counts.
for i in "${!targets[@]}"; do cat "$tmp/out/$i.txt"; done | awk -v root="$root/" -v summary="$tmp/summary" '
  function flush() { if (head != "" && !(head in seen)) { seen[head] = 1; printf "%s", block; count[check]++; total++ } }
  /^\/.*:[0-9]+:[0-9]+: (warning|error): / {
    flush()
    head = $0; block = ""; check = "?"
    if (match($0, /\[[^]]+\]$/)) check = substr($0, RSTART + 1, RLENGTH - 2)
  }
  { line = $0; if (index(line, root) == 1) line = substr(line, length(root) + 1); block = block line "\n" }
  END {
    flush()
    for (c in count) printf "%6d  %s\n", count[c], c | "sort -rn > \"" summary "\""
    close("sort -rn > \"" summary "\"")
    printf "%d\n", total > (summary ".total")
  }'
total=$(cat "$tmp/summary.total" 2>/dev/null || echo 0)

if [[ $fix -eq 1 && ${#apply[@]} -gt 0 ]] && compgen -G "$tmp/fixes/*.yaml" >/dev/null; then
  "${apply[@]}" "$tmp/fixes"
  echo "lint: applied the fixes clang-tidy offered; review them with git diff" >&2
fi

echo
if [[ "$total" -gt 0 ]]; then
  echo "lint: $total diagnostic(s) in ${#targets[@]} file(s), by check:"
  cat "$tmp/summary"
else
  echo "lint: no warnings in ${#targets[@]} file(s)"
fi
if [[ "$total" -gt 0 || $failed -eq 1 ]]; then exit 1; fi
