#!/usr/bin/env bash
# Checks that dependencies flow one way, as CONTRIBUTING.md's Layout section states: every project
# include in a folder must name a folder that folder may depend on. Exit 1 listing the includes
# that point the wrong way. Run by CTest (test "layout") and by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

# folder -> the folders its files may include (besides its own)
declare -A allowed=(
  [core]=""
  [twilio]="core"
  [audio]="twilio core"
  [net]="core"
  [assets]=""
  # The counters every room of serve counts into: below them all, above nothing of theirs.
  [proxy/metrics]="core"
  [proxy/store]="proxy/metrics net twilio core"
  [proxy/media]="proxy/store proxy/metrics net audio twilio core"
  [proxy/http]="proxy/media proxy/store proxy/metrics net audio twilio core"
  [proxy/callers]="proxy/http proxy/media proxy/store proxy/metrics net audio twilio core"
  [proxy]="proxy/callers proxy/http proxy/media proxy/store proxy/metrics net audio twilio core"
  [testclient]="net audio twilio core"
  [speaker]="net audio twilio core"
  [cli]="proxy proxy/callers proxy/http proxy/media proxy/store proxy/metrics testclient speaker assets net audio twilio core"
  # The bench's instruments stand alone (their own helpers; Asio/Beast only from the compiled
  # net library, never a project header), so a change to what they measure cannot change them;
  # and nothing may include them. One exception: bench/resamplers measures serve's own upsampler
  # (audio/upsampler.h) beside the libraries it was chosen over, so it links audio.
  [bench]="audio"
)

# The folder an include names: the longest known folder that prefixes it.
folder_of() {
  local path=$1 best=""
  for f in "${!allowed[@]}"; do
    if [[ $path == "$f/"* && ${#f} -gt ${#best} ]]; then best=$f; fi
  done
  echo "$best"
}

bad=0
while IFS= read -r file; do
  from=$(folder_of "$file")
  [[ -n $from ]] || continue  # tests/: may use anything
  while IFS= read -r line; do
    target=${line#*\"}
    target=${target%%\"*}
    to=$(folder_of "$target")
    [[ -z $to || $to == "$from" ]] && continue
    if [[ " ${allowed[$from]} " != *" $to "* ]]; then
      echo "$file: includes \"$target\": $from may not depend on $to" >&2
      bad=1
    fi
  done < <(grep -E '^#include "' "$file" || true)
done < <(git ls-files --cached --others --exclude-standard '*.h' '*.cpp')

if [[ $bad -ne 0 ]]; then
  echo "check-layout: includes above point against the dependency direction (see CONTRIBUTING.md, Layout)" >&2
  exit 1
fi
echo "check-layout: every include follows the dependency direction"
