#!/usr/bin/env bash
# The .deb: built with CPack, unpacked into a scratch root, the binary runs and its man page renders.
source "$(dirname "$0")/lib.sh" "$@"
build=$(cd "$(dirname "$E911")" && pwd)
(cd "$build" && cpack -G DEB -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1) || { fail "cpack: $(tail -5 "$WORK/cpack.log")"; finish; }
deb=$(ls "$WORK"/pkg/e911ctl_*.deb | head -1)
[ -f "$deb" ] || { fail "no .deb built"; finish; }
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libyaml-cpp0.7 libsqlite3-0 libcurl4; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
dpkg-deb -x "$deb" "$WORK/root"
"$WORK/root/usr/bin/e911ctl" --version | grep -q "^e911ctl " || fail "installed e911ctl --version"
for f in usr/share/man/man1/e911ctl.1 usr/share/man/man5/e911ctl.yaml.5 usr/share/bash-completion/completions/e911ctl \
         usr/share/zsh/vendor-completions/_e911ctl usr/share/fish/vendor_completions.d/e911ctl.fish \
         usr/share/e911ctl/schemas/objects/location.schema.json usr/share/e911ctl/samples/enterprise/20-locations.yaml; do
  [ -e "$WORK/root/$f" ] || [ -e "$WORK/root/$f.gz" ] || fail "package lacks $f"
done
page=$(ls "$WORK"/root/usr/share/man/man1/e911ctl.1* | head -1)
rendered=$( (zcat -f "$page" | groff -ww -man -Tutf8 -P-cbou) 2>"$WORK/groff.err")
[ -s "$WORK/groff.err" ] && fail "man e911ctl renders with warnings: $(cat "$WORK/groff.err")"
grep -q "EXIT STATUS" <<<"$rendered" || fail "rendered man page lacks EXIT STATUS"
finish
