#!/usr/bin/env bash
# Installs kvraft as a systemd service. Idempotent: run it again to upgrade; configs are never overwritten.
#
#   systemd/install.sh [--prefix DIR] [--nodes n1,n2,n3] [--cluster SPEC] [--tls-dir DIR] [--dry-run] [--no-build]
#
#   --prefix DIR    install under DIR instead of / (a staging root; no user, no systemctl)
#   --nodes IDS     write an example config for each node id (default n1); existing configs are kept
#   --cluster SPEC  the cluster line for those configs (default: the nodes on 127.0.0.1, ports 7379/7380,
#                   7479/7480, ... so that several instances can run on one host)
#   --tls-dir DIR   install DIR/ca.pem and each node's DIR/<id>.pem and DIR/<id>.key (and DIR/kvsh.pem/.key when
#                   there) into /etc/kvraft/tls/ (keys 0600, owned by kvraft), and turn TLS on in new configs;
#                   a file already there is kept (a rotated certificate is never put back to an older one)
#   --dry-run       print what would be done, change nothing
#   --no-build      never build: fail when the jars are missing, install them as they are when the sources are newer
#
# Layout: /opt/kvraft/{bin,lib,systemd}, /usr/local/bin/{kvraft-server,kvsh,kvraft-bench,kvraft-backup},
#         /etc/systemd/system/kvraft@.service and kvraft-backup.{service,timer}, /etc/kvraft/<id>.properties, data in /var/lib/kvraft/<id>.
set -euo pipefail
src=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
prefix=/ dry=0 build=1 nodes=n1 cluster="" tls_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --nodes) nodes=${2:?--nodes needs ids}; shift 2 ;;
    --nodes=*) nodes=${1#--nodes=}; shift ;;
    --cluster) cluster=${2:?--cluster needs a spec}; shift 2 ;;
    --cluster=*) cluster=${1#--cluster=}; shift ;;
    --tls-dir) tls_dir=${2:?--tls-dir needs a directory}; shift 2 ;;
    --tls-dir=*) tls_dir=${1#--tls-dir=}; shift ;;
    --dry-run) dry=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
prefix=${prefix%/}
root=${prefix:-}
say() { echo "install.sh: $*"; }
run() { if [ "$dry" = 1 ]; then echo "+ $*"; else "$@"; fi; }

IFS=, read -r -a ids <<<"$nodes"
for id in "${ids[@]}"; do
  [[ "$id" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ ]] || { echo "install.sh: '$id' is not a valid node id" >&2; exit 2; }
done
if [ -z "$cluster" ]; then
  members=()
  for i in "${!ids[@]}"; do members+=("${ids[$i]}=127.0.0.1:$((7379 + 100 * i)):$((7380 + 100 * i))"); done
  cluster=$(IFS=,; echo "${members[*]}")
fi

# TLS files: all there before anything is installed, so a typo fails early and changes nothing.
if [ -n "$tls_dir" ]; then
  for f in ca.pem $(for id in "${ids[@]}"; do echo "$id.pem $id.key"; done); do
    [ -r "$tls_dir/$f" ] || { echo "install.sh: --tls-dir $tls_dir has no readable $f (make them with bin/kvraft-certs)" >&2; exit 2; }
  done
fi

# The jars: built from this source tree when missing, or when a source is newer than the last build by a kvraft
# script (target/.built: after a git pull, an upgrade must not install the jars of the release before; a build by
# hand with mvn leaves no stamp, so it is built once more). The launchers' own kvraft_classpath builds them: the same
# check, under the same lock.
server_jar="$src/server/target/kvraft-server.jar"
shell_jar="$src/client-shell/shell/target/kvraft-shell.jar"
source "$src/bin/lib/common.sh"
if [ ! -f "$server_jar" ] || [ ! -f "$shell_jar" ]; then
  if [ "$dry" = 1 ]; then
    say "would build the jars (mvn package)"
  elif [ "$build" = 0 ]; then
    echo "install.sh: jars not built; run mvn -DskipTests package" >&2; exit 1
  fi
elif kvraft_stale; then
  if [ "$build" = 0 ]; then
    echo "install.sh: --no-build: installing the jars as they are, though a source is newer than the last build by a kvraft script (without --no-build, install.sh builds them first)" >&2
  elif [ "$dry" = 1 ]; then
    say "would build the jars again (a source is newer than the last build)"
  fi
fi
if [ "$build" = 1 ] && [ "$dry" = 0 ]; then
  kvraft_find_java
  kvraft_classpath server >/dev/null
  kvraft_classpath client-shell/shell >/dev/null
fi

opt="$root/opt/kvraft"
say "installing into ${prefix:-/}"
run mkdir -p "$opt/bin/lib" "$opt/lib" "$opt/systemd" "$root/usr/local/bin" "$root/etc/systemd/system" "$root/etc/kvraft"
for module in server client-shell/shell client-shell/tools; do
  name=$(basename "$module")
  jar="$src/$module/target/kvraft-$name.jar"
  # Replace the whole directory so an upgrade leaves no stale jar behind.
  run rm -rf "$opt/lib/$name.new"
  run mkdir -p "$opt/lib/$name.new"
  run cp "$jar" "$opt/lib/$name.new/"
  run cp "$src/$module/target/lib/"*.jar "$opt/lib/$name.new/"
  run rm -rf "$opt/lib/$name"
  run mv "$opt/lib/$name.new" "$opt/lib/$name"
done
run rm -rf "$opt/lib/client-shell"   # the layout before the shell and the tools were separate jars
run install -m 0755 "$src/bin/kvraft-server" "$src/bin/kvsh" "$src/bin/kvraft-bench" "$src/bin/kvraft-torture" \
  "$src/bin/kvraft-backup" "$opt/bin/"
run install -m 0644 "$src/bin/lib/common.sh" "$opt/bin/lib/"
run install -m 0644 "$src/systemd/README.md" "$src/systemd/kvraft.properties.example" "$src/systemd/kvraft@.service" \
  "$src/systemd/kvraft-backup.service" "$src/systemd/kvraft-backup.timer" "$opt/systemd/"
run mkdir -p "$opt/systemd/monitoring"
run install -m 0644 "$src/systemd/monitoring/prometheus.yml" "$src/systemd/monitoring/grafana-dashboard.json" "$opt/systemd/monitoring/"
for tool in kvraft-server kvsh kvraft-bench kvraft-backup; do
  run ln -sfn "/opt/kvraft/bin/$tool" "$root/usr/local/bin/$tool"
done
run install -m 0644 "$src/systemd/kvraft@.service" "$root/etc/systemd/system/kvraft@.service"
run install -m 0644 "$src/systemd/kvraft-backup.service" "$src/systemd/kvraft-backup.timer" "$root/etc/systemd/system/"

if [ -z "$prefix" ] && [ "$dry" = 0 ]; then
  # The JVM's archive for the installed jars (bin/lib/common.sh: an AOT cache on JDK 25+, a class archive before),
  # made now as root: the service user cannot write /opt/kvraft/lib. Under a --prefix the paths differ from the
  # installed ones, so none is made there.
  "$opt/bin/kvraft-server" --help >/dev/null || say "could not make the JVM archive; the nodes start without it"
fi

for id in "${ids[@]}"; do
  conf="$root/etc/kvraft/$id.properties"
  if [ -e "$conf" ]; then
    say "keeping $conf (configs are never overwritten)"
    continue
  fi
  if [ "$dry" = 1 ]; then
    echo "+ write $conf (node.id = $id, cluster = $cluster)"
  else
    (
      umask 077 # the file is never readable by others, not even before the chmod below
      sed -e "s|^node.id = .*|node.id = $id|" -e "s|^cluster = .*|cluster = $cluster|" \
        "$src/systemd/kvraft.properties.example" >"$conf"
      if [ -n "$tls_dir" ]; then
        printf '\n# TLS on every link (installed by install.sh --tls-dir); systemctl reload kvraft@%s re-reads them.\n%s\n%s\n%s\n' \
          "$id" "tls.cert.file = /etc/kvraft/tls/$id.pem" "tls.key.file = /etc/kvraft/tls/$id.key" \
          "tls.ca.file = /etc/kvraft/tls/ca.pem" >>"$conf"
      fi
    )
    chmod 0640 "$conf"
  fi
done

# Installs one TLS file, unless the target exists already: a file there that differs was rotated in since (or
# is meant to differ), and running install.sh again to upgrade must not put an older certificate back.
install_tls_file() {
  local mode=$1 from=$2 to=$3
  if [ -e "$to" ] && [ "$dry" = 0 ]; then
    if ! cmp -s "$from" "$to"; then
      say "kept $to: it differs from $from (to rotate, copy the new file there and run systemctl reload)"
    fi
    return 0
  fi
  run install -m "$mode" "$from" "$to"
}

if [ -n "$tls_dir" ]; then
  # Certificates are public (0644); private keys are readable by the service user only (0600, owned by kvraft).
  tls="$root/etc/kvraft/tls"
  run mkdir -p "$tls"
  run chmod 0750 "$tls"
  install_tls_file 0644 "$tls_dir/ca.pem" "$tls/ca.pem"
  keys=()
  for id in "${ids[@]}"; do
    install_tls_file 0644 "$tls_dir/$id.pem" "$tls/$id.pem"
    install_tls_file 0600 "$tls_dir/$id.key" "$tls/$id.key"
    keys+=("$tls/$id.key")
  done
  if [ -r "$tls_dir/kvsh.pem" ] && [ -r "$tls_dir/kvsh.key" ]; then
    # The shell's client certificate, for root on this host (KVSH_CACERT/KVSH_CERT/KVSH_KEY point kvsh at it).
    install_tls_file 0644 "$tls_dir/kvsh.pem" "$tls/kvsh.pem"
    install_tls_file 0600 "$tls_dir/kvsh.key" "$tls/kvsh.key"
  fi
  say "installed TLS files into $tls; existing configs need tls.cert.file, tls.key.file and tls.ca.file set"
fi

if [ -z "$prefix" ]; then
  if ! getent passwd kvraft >/dev/null 2>&1; then
    run useradd --system --home-dir /var/lib/kvraft --no-create-home --shell /usr/sbin/nologin kvraft
  fi
  for id in "${ids[@]}"; do run chgrp kvraft "/etc/kvraft/$id.properties" || true; done
  if [ -n "$tls_dir" ]; then
    run chgrp kvraft /etc/kvraft/tls
    for k in "${keys[@]}"; do run chown kvraft:kvraft "$k"; done
  fi
  if [ -d /run/systemd/system ]; then
    run systemctl daemon-reload
  else
    say "systemd is not running here: skipped 'systemctl daemon-reload'"
  fi
fi

say "done. Next:"
for id in "${ids[@]}"; do
  echo "  edit /etc/kvraft/$id.properties, then: systemctl enable --now kvraft@$id"
done
echo "  status: systemctl status 'kvraft@*'   logs: journalctl -u kvraft@${ids[0]}   shell: kvsh"
