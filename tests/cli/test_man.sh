#!/usr/bin/env bash
# Man pages: one per command group, each with examples that really run, all rendering cleanly.
source "$(dirname "$0")/lib.sh" "$@"
run man --out "$WORK/man"
expect_rc 0 "man"
# Every command group of the parser has a page.
groups=$("$E911" --help | awk '/^Subcommands:/{on=1; next} on && /^  [a-z]/{print $1}')
[ -n "$groups" ] || fail "no command groups in --help"
for g in $groups; do
  [ -f "$WORK/man/e911ctl-$g.1" ] || fail "no page for '$g'"
done
[ -f "$WORK/man/e911ctl.1" ] || fail "no e911ctl(1)"
[ -f "$WORK/man/e911ctl.yaml.5" ] || fail "no e911ctl.yaml(5)"
for page in "$WORK"/man/*; do
  warnings=$(groff -ww -z -man "$page" 2>&1)
  [ -z "$warnings" ] || fail "$(basename "$page") does not render cleanly: $warnings"
  for section in NAME SYNOPSIS DESCRIPTION "EXIT STATUS" ENVIRONMENT FILES "SEE ALSO"; do
    case $page in *.5) [ "$section" = SYNOPSIS ] || [ "$section" = "EXIT STATUS" ] || [ "$section" = ENVIRONMENT ] || [ "$section" = FILES ] && continue ;; esac
    grep -q "^\.SH $section" "$page" || fail "$(basename "$page") has no $section section"
  done
done
# Every page of a command has at least one example, and every example runs: against the
# sample enterprise, in a scratch directory, e911ctl(1)'s own examples first.
mkdir -p "$WORK/run" && ln -s "$ROOT/samples" "$WORK/run/samples"
examples() { awk '/^\.SH EXAMPLES/{on=1; next} /^\.SH /{on=0} on && /^\.nf/{grab=1; next} on && /^\.fi/{grab=0} grab' "$1" | sed 's/\\-/-/g; s/\\e/\\/g'; }
for page in "$WORK/man/e911ctl.1" "$WORK"/man/e911ctl-*.1; do
  ex=$(examples "$page")
  [ -n "$ex" ] || { fail "$(basename "$page") has no example"; continue; }
  while IFS= read -r cmd; do
    (cd "$WORK/run" && PATH="$(dirname "$E911"):$PATH" bash -c "set -e; $cmd" >/dev/null 2>"$WORK/ex.err") ||
      { err=$(cat "$WORK/ex.err"); fail "example of $(basename "$page") fails: $cmd"; }
  done <<<"$ex"
done
finish
