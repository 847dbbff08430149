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
# The runtime as a service: its unit, its user, its settings as a conffile, its page in section 8.
for f in usr/lib/systemd/system/e911ctl.service usr/lib/sysusers.d/e911ctl.conf etc/e911ctl/serve.yaml \
         usr/share/man/man8/e911ctl-serve.8; do
  [ -e "$WORK/root/$f" ] || [ -e "$WORK/root/$f.gz" ] || fail "package lacks $f"
done
[ ! -e "$WORK/root/usr/share/man/man1/e911ctl-serve.1" ] && [ ! -e "$WORK/root/usr/share/man/man1/e911ctl-serve.1.gz" ] ||
  fail "e911ctl-serve is in section 1 as well as 8"
dpkg-deb -e "$deb" "$WORK/control"
grep -qx /etc/e911ctl/serve.yaml "$WORK/control/conffiles" || fail "/etc/e911ctl/serve.yaml is not a conffile"
for script in postinst postrm; do
  [ -x "$WORK/control/$script" ] || fail "package lacks an executable $script"
  sh -n "$WORK/control/$script" || fail "$script is not valid sh"
done
unit=$WORK/root/usr/lib/systemd/system/e911ctl.service
grep -q '^ExecStart=/usr/bin/e911ctl serve --config /etc/e911ctl/serve.yaml$' "$unit" || fail "the unit does not start serve with /etc/e911ctl/serve.yaml"
for want in ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes StateDirectory=e911ctl \
            'CapabilityBoundingSet=' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' SystemCallFilter=@system-service \
            Restart=on-failure 'ExecReload=/bin/kill -HUP $MAINPID'; do
  grep -qxF "$want" "$unit" || fail "the unit lacks '$want'"
done
if command -v systemd-analyze >/dev/null; then
  # The binary is not installed on this machine (it is in the scratch root): that one complaint
  # is expected; any other line is a mistake in the unit.
  problems=$(systemd-analyze verify --man=no "$unit" 2>&1 | grep -v 'Command /usr/bin/e911ctl is not executable' || true)
  [ -z "$problems" ] || fail "systemd-analyze verify: $problems"
else
  echo "skip: systemd-analyze is not installed, the unit is not verified" >&2
fi
page=$(ls "$WORK"/root/usr/share/man/man1/e911ctl.1* | head -1)
rendered=$( (zcat -f "$page" | groff -ww -man -Tutf8 -P-cbou) 2>"$WORK/groff.err")
[ -s "$WORK/groff.err" ] && fail "man e911ctl renders with warnings: $(cat "$WORK/groff.err")"
grep -q "EXIT STATUS" <<<"$rendered" || fail "rendered man page lacks EXIT STATUS"
finish
