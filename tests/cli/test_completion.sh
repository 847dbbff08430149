#!/usr/bin/env bash
# Shell completion, driven through a real non-interactive bash with the generated script sourced.
source "$(dirname "$0")/lib.sh" "$@"
"$E911" apply -f "$ROOT/samples/enterprise" >/dev/null || fail "apply samples"
"$E911" completion bash >"$WORK/e911ctl.bash" || fail "completion bash"
complete_line() {  # prints the candidates bash offers for a partial command line
  PATH="$(dirname "$E911"):$PATH" bash -c '
    source "$1"; shift
    read -ra COMP_WORDS <<<"$1"
    [[ $1 == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    _e911ctl
    printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$WORK/e911ctl.bash" "$1"
}
check() {
  local got
  got=$(complete_line "$1")
  [ "$got" = "$2" ] || fail "completing '$1': got '$got', want '$2'"
}
check "e911ctl loc" "location "
check "e911ctl policy s" "set show "
check "e911ctl policy show " "Executives global site:Redmond "
check "e911ctl trunk show provider-b" "provider-backup "
check "e911ctl location list --format " "json text yaml "
check "e911ctl import lis --kind s" "subnet switch "
check "e911ctl apply --dr" "--dry-run "
touch "$WORK/sample-file.yaml"
got=$(cd "$WORK" && complete_line "e911ctl apply -f sample-f")
[ "$got" = "sample-file.yaml " ] || fail "file completion: got '$got'"
if command -v zsh >/dev/null; then
  "$E911" completion zsh | zsh -n || fail "zsh script does not parse"
fi
if command -v fish >/dev/null; then
  "$E911" completion fish | fish -n || fail "fish script does not parse"
fi
finish
