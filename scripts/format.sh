#!/usr/bin/env bash
# clang-format over the project's C++ sources, with the style in .clang-format.
#   scripts/format.sh                  format every tracked .cpp/.h in place
#   scripts/format.sh --check          change nothing; list the files that need formatting (exit 1)
#   scripts/format.sh [--check] FILE…  the same for just these files
# Exit status: 0 clean (or formatted), 1 files need formatting (--check), 2 clang-format missing or failing.
# Needs Debian 12's clang-format (version 14; other versions may format a few lines differently):
#   scripts/install-deps.sh format     (run first, when clang-format is missing)
set -euo pipefail
here=$(pwd)
cd "$(dirname "$0")/.."

check=0
files=()
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "format: unknown option $arg (try --help)" >&2; exit 2 ;;
    *)
      # Paths are taken relative to where the script was started; we work from the repo root.
      [[ "$arg" == /* ]] || arg="$here/$arg"
      [[ -f "$arg" ]] || { echo "format: no such file: $arg" >&2; exit 2; }
      files+=("$(realpath --relative-to=. "$arg")") ;;
  esac
done

command -v clang-format >/dev/null || bash scripts/install-deps.sh format || true
if ! command -v clang-format >/dev/null; then
  echo "format: clang-format not found: scripts/install-deps.sh format (or apt-get install clang-format)" >&2
  exit 2
fi
major=$(clang-format --version | sed -n 's/.*version \([0-9][0-9]*\).*/\1/p')
if [[ "$major" != 14 ]]; then
  echo "format: note: clang-format $major, the style is tuned for 14 (Debian 12); results may differ slightly" >&2
fi

list=$(mktemp)
trap 'rm -f "$list"' EXIT
if [[ ${#files[@]} -gt 0 ]]; then
  printf '%s\0' "${files[@]}" >"$list"
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z -- '*.cpp' '*.h' >"$list"
else
  find . -path ./build -prune -o \( -name '*.cpp' -o -name '*.h' \) -type f -print0 >"$list"
fi
[[ -s "$list" ]] || { echo "format: no files"; exit 0; }
jobs=$(nproc 2>/dev/null || echo 2)

# The style file must parse, or every file would look unformatted.
if ! err=$(clang-format --dump-config "$(head -z -n 1 "$list" | tr -d '\0')" 2>&1 >/dev/null) || [[ -n "$err" ]]; then
  printf '%s\n' "$err" >&2
  echo "format: clang-format cannot use .clang-format (see above)" >&2
  exit 2
fi

# Which files would change: one clang-format per file, each printing its name when it would
# change something (a short line, so parallel runs never mix their output). A tracked file
# deleted from the work tree is passed over.
mapfile -t dirty < <(xargs -0 -P "$jobs" -I{} sh -c \
  '[ -f "$1" ] || exit 0; clang-format --dry-run --Werror --ferror-limit=1 "$1" >/dev/null 2>&1 || printf "%s\n" "$1"' \
  _ {} <"$list" | sort)

if [[ ${#dirty[@]} -eq 0 ]]; then
  echo "format: all $(tr -cd '\0' <"$list" | wc -c) files are formatted"
  exit 0
fi
if [[ $check -eq 1 ]]; then
  echo "format: ${#dirty[@]} file(s) need formatting (run scripts/format.sh):"
  printf '  %s\n' "${dirty[@]}"
  exit 1
fi
printf '%s\0' "${dirty[@]}" | xargs -0 -n 16 -P "$jobs" clang-format -i
echo "format: formatted ${#dirty[@]} file(s):"
printf '  %s\n' "${dirty[@]}"
