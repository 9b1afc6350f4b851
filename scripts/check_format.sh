#!/usr/bin/env bash
# Fails (exit 1, listing the files) when a tracked C++ file differs from what clang-format makes
# of it with the repository's .clang-format. `scripts/check_format.sh --fix` rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."
format=clang-format
command -v clang-format-14 > /dev/null && format=clang-format-14

mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cc')
if [[ "${1:-}" == "--fix" ]]; then
  "$format" -i "${files[@]}"
  exit 0
fi
unformatted=()
for file in "${files[@]}"; do
  if ! "$format" --dry-run --Werror "$file" > /dev/null 2>&1; then unformatted+=("$file"); fi
done
if (( ${#unformatted[@]} > 0 )); then
  echo "not formatted (scripts/check_format.sh --fix):" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  exit 1
fi
echo "format: ${#files[@]} files clean"
