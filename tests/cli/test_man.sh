#!/usr/bin/env bash
# Man pages: one per command group, each with prose of its own (man/*.txt), examples that really
# run, all rendering cleanly.
source "$(dirname "$0")/lib.sh" "$@"
run man --out "$WORK/man"
expect_rc 0 "man"
# Every command group of the parser has a page.
groups=$("$E911" --help | awk '/^Subcommands:/{on=1; next} on && /^  [a-z]/{print $1}')
[ -n "$groups" ] || fail "no command groups in --help"
for g in $groups; do
  [ -f "$WORK/man/e911ctl-$g.1" ] || [ -f "$WORK/man/e911ctl-$g.8" ] || fail "no page for '$g'"
done
# The runtime is a daemon an administrator runs: its page is in section 8, and the others say so.
[ -f "$WORK/man/e911ctl-serve.8" ] && [ ! -f "$WORK/man/e911ctl-serve.1" ] || fail "e911ctl-serve is not in section 8 alone"
grep -q '^\.TH E911CTL-SERVE 8 ' "$WORK/man/e911ctl-serve.8" || fail "e911ctl-serve(8) does not say its section"
grep -q 'e911ctl\\-serve (8)' "$WORK/man/e911ctl.1" || fail "e911ctl(1) does not list e911ctl-serve(8)"
for s in CONFIGURATION SIGNALS LOGS; do
  grep -q "^\.SH $s\$" "$WORK/man/e911ctl-serve.8" || fail "e911ctl-serve(8) has no $s section"
done
# Every key of the serve configuration is described on the page.
for key in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["properties"]))' "$ROOT/schemas/serve.schema.json"); do
  grep -qxF "\\fB$key\\fR" "$WORK/man/e911ctl-serve.8" || fail "e911ctl-serve(8) does not describe the setting '$key'"
done
[ -f "$WORK/man/e911ctl.1" ] || fail "no e911ctl(1)"
[ -f "$WORK/man/e911ctl.yaml.5" ] || fail "no e911ctl.yaml(5)"

# The text of a section, macros dropped and escapes undone: what a reader sees of it.
section() { awk -v s="$2" '/^\.SH /{on = ($0 == ".SH " s || $0 == ".SH \"" s "\""); next} on && !/^\.[A-Za-z]/' "$1" | sed 's/\\f[BIRP]//g; s/\\-/-/g; s/\\e/\\/g; s/\\&//g'; }
# Pages with no store to read or write have no FILES; pages of tools with no Lync counterpart no NOTES.
no_files=" man completion explain "
no_notes=" man completion schema "
for page in "$WORK"/man/*; do
  name=$(basename "$page")
  warnings=$(groff -ww -z -man "$page" 2>&1)
  [ -z "$warnings" ] || fail "$name does not render cleanly: $warnings"
  group=${name#e911ctl-}; group=${group%.[18]}
  want=(NAME DESCRIPTION "SEE ALSO")
  case $name in
    *.5) want+=(FILES) ;;
    *) want+=(SYNOPSIS "EXIT STATUS" ENVIRONMENT)
       [[ $no_files == *" $group "* ]] || want+=(FILES)
       [[ $no_notes == *" $group "* ]] || want+=(NOTES) ;;
  esac
  for s in "${want[@]}"; do
    grep -q "^\.SH $s\$" "$page" || fail "$name has no $s section"
  done
  # DESCRIPTION is prose written for the page: a few sentences, not the one-line help again.
  desc=$(section "$page" DESCRIPTION | tr "\n" " ")
  sentences=$(grep -o "[a-z0-9)\"][.:;] " <<<"$desc" | wc -l)
  [ "${#desc}" -ge 200 ] && [ "$sentences" -ge 2 ] ||
    fail "$name: DESCRIPTION has no prose of its own (write man/$name.txt)"
  # Option texts are sentences: no "output format One of: ..." run together.
  if grep -qE '[a-z0-9)] (One of|Default|Required|Environment)[:.]' "$page"; then
    fail "$name: an option text runs into the next sentence: $(grep -E '[a-z0-9)] (One of|Default|Required|Environment)[:.]' "$page" | head -1)"
  fi
done

# Every kind of e911ctl.yaml(5) has an example, and the examples together are a
# configuration apply takes.
for kind in $(awk '/^\.SH KIND: /{print $3}' "$WORK/man/e911ctl.yaml.5"); do
  awk -v k="$kind" '/^\.SH /{on = ($0 == ".SH KIND: " k); next} on' "$WORK/man/e911ctl.yaml.5" | grep -q '^\.nf' ||
    fail "e911ctl.yaml(5): kind $kind has no example"
done
awk '/^\.SH KIND: /{on=1} /^\.SH /&&!/KIND: /{on=0} on && /^\.nf/{grab=1; print "---"; next} on && /^\.fi/{grab=0} grab' "$WORK/man/e911ctl.yaml.5" |
  sed 's/\\-/-/g; s/\\e/\\/g; s/\\&//g' >"$WORK/yaml5-examples.yaml"
E911_DB=$WORK/yaml5.db run apply -f "$WORK/yaml5-examples.yaml"
expect_rc 0 "the examples of e911ctl.yaml(5) do not apply: $err"

# Every page of a command has at least one example, and every example runs: against the
# sample enterprise, in a scratch directory, e911ctl(1)'s own examples first.
mkdir -p "$WORK/run" && ln -s "$ROOT/samples" "$WORK/run/samples"
examples() { awk '/^\.SH EXAMPLES/{on=1; next} /^\.SH /{on=0} on && /^\.nf/{grab=1; next} on && /^\.fi/{grab=0} grab' "$1" | sed 's/\\-/-/g; s/\\e/\\/g'; }
for page in "$WORK/man/e911ctl.1" "$WORK"/man/e911ctl-*.[18]; do
  ex=$(examples "$page")
  [ -n "$ex" ] || { fail "$(basename "$page") has no example"; continue; }
  while IFS= read -r cmd; do
    (cd "$WORK/run" && PATH="$(dirname "$E911"):$PATH" bash -c "set -e; $cmd" >/dev/null 2>"$WORK/ex.err") ||
      { err=$(cat "$WORK/ex.err"); fail "example of $(basename "$page") fails: $cmd"; }
  done <<<"$ex"
done
finish
