#!/usr/bin/env bash
# Removes what install.sh installed. The data (/var/lib/kvraft), the configs (/etc/kvraft) and the
# kvraft user stay unless --purge.
#
#   systemd/uninstall.sh [--prefix DIR] [--dry-run] [--purge]
set -euo pipefail
prefix=/ dry=0 purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --dry-run) dry=1; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
prefix=${prefix%/}
root=${prefix:-}
run() { if [ "$dry" = 1 ]; then echo "+ $*"; else "$@"; fi; }

if [ -z "$prefix" ] && [ -d /run/systemd/system ]; then
  for unit in $(systemctl list-units --all --plain --no-legend 'kvraft@*' 'kvraft-backup.*' | awk '{print $1}'); do
    run systemctl disable --now "$unit"
  done
fi
run rm -rf "$root/opt/kvraft"
for tool in kvraft-server kvsh kvraft-bench kvraft-backup; do run rm -f "$root/usr/local/bin/$tool"; done
run rm -f "$root/etc/systemd/system/kvraft@.service" "$root/etc/systemd/system/kvraft-backup.service" \
  "$root/etc/systemd/system/kvraft-backup.timer"
if [ "$purge" = 1 ]; then
  run rm -rf "$root/etc/kvraft" "$root/var/lib/kvraft"
  if [ -z "$prefix" ] && getent passwd kvraft >/dev/null 2>&1; then run userdel kvraft; fi
else
  echo "uninstall.sh: kept ${root}/etc/kvraft and ${root}/var/lib/kvraft (use --purge to remove them too)"
fi
if [ -z "$prefix" ] && [ -d /run/systemd/system ]; then run systemctl daemon-reload; fi
echo "uninstall.sh: done"
