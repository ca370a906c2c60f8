# Shared by the kvraft launchers: find a JDK >= 21, build the jars when missing or stale, pick JVM flags.
# Sourced, not run. Sets KVRAFT_HOME, JAVA, JAVA_MAJOR.

KVRAFT_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

kvraft_die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# The major version of a java binary, or nothing: from its JDK's release file (no JVM started, which on a
# busy machine costs a launcher half a second per JDK looked at), else by asking the binary itself.
kvraft_java_major() {
  local release version
  release="$(dirname "$(dirname "$(readlink -f "$1")")")/release"
  if [ -f "$release" ]; then
    version=$(sed -n 's/^JAVA_VERSION="\([^"]*\)".*/\1/p' "$release" | head -n1)
    case "$version" in
      1.[0-9]*) version=${version#1.}; echo "${version%%[!0-9]*}"; return 0 ;;
      [0-9]*) echo "${version%%[!0-9]*}"; return 0 ;;
    esac
  fi
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n1
}

# JAVA_HOME when it is >= 21, else the newest JDK >= 21 under /usr/lib/jvm, else java on PATH when >= 21.
kvraft_find_java() {
  local candidate major best="" best_major=0
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    major=$(kvraft_java_major "$JAVA_HOME/bin/java")
    if [ -n "$major" ] && [ "$major" -ge 21 ]; then
      JAVA="$JAVA_HOME/bin/java"; JAVA_MAJOR=$major; return 0
    fi
    echo "$(basename "$0"): JAVA_HOME=$JAVA_HOME is Java ${major:-?}, kvraft needs >= 21; looking in /usr/lib/jvm" >&2
  fi
  for candidate in /usr/lib/jvm/*/bin/java; do
    [ -x "$candidate" ] || continue
    major=$(kvraft_java_major "$candidate")
    if [ -n "$major" ] && [ "$major" -ge 21 ] && [ "$major" -gt "$best_major" ]; then
      best=$candidate; best_major=$major
    fi
  done
  if [ -z "$best" ] && command -v java >/dev/null 2>&1; then
    major=$(kvraft_java_major "$(command -v java)")
    if [ -n "$major" ] && [ "$major" -ge 21 ]; then best=$(command -v java); best_major=$major; fi
  fi
  if [ -z "$best" ]; then
    kvraft_die "no JDK >= 21 found (looked at JAVA_HOME, /usr/lib/jvm/*, PATH).
Install one, e.g.: apt-get install -y openjdk-21-jdk-headless   (or temurin-21-jdk), or set JAVA_HOME to one."
  fi
  JAVA=$best; JAVA_MAJOR=$best_major
}

# Flags the shaded Netty inside Ratis needs on newer JDKs (see DESIGN.md).
kvraft_jvm_flags() {
  local flags="--enable-native-access=ALL-UNNAMED"
  if [ "$JAVA_MAJOR" -ge 23 ]; then flags="$flags --sun-misc-unsafe-memory-access=allow"; fi
  echo "$flags"
}

# The class path of a module ("server", "client-shell/shell", "client-shell/tools"): the installed layout
# (lib/<last path part>/) when present,
# else the source tree's target/, built first when missing or older than the sources.
kvraft_classpath() {
  local module=$1 jar name
  name=$(basename "$module")
  if [ -d "$KVRAFT_HOME/lib/$name" ]; then
    echo "$KVRAFT_HOME/lib/$name/*"; return 0
  fi
  jar="$KVRAFT_HOME/$module/target/kvraft-$name.jar"
  # One build at a time: two launchers started together wait for each other instead of racing.
  mkdir -p "$KVRAFT_HOME/target"
  exec 9>"$KVRAFT_HOME/target/.build.lock"
  flock 9
  # KVRAFT_NO_BUILD=1 (tests run inside a Maven build): use the jars as they are, never start a build.
  if [ ! -f "$jar" ] || { [ "${KVRAFT_NO_BUILD:-0}" != 1 ] && kvraft_stale; }; then
    [ "${KVRAFT_NO_BUILD:-0}" = 1 ] && kvraft_die "KVRAFT_NO_BUILD=1 but $jar is not built"
    command -v mvn >/dev/null 2>&1 || kvraft_die "the jars are not built and Maven is missing: apt-get install -y maven"
    echo "$(basename "$0"): building kvraft (mvn package; a minute or two the first time)..." >&2
    kvraft_mvn -q -DskipTests package >&2 || kvraft_die "the build failed; run 'mvn -DskipTests package' to see why"
    touch "$KVRAFT_HOME/target/.built"
  fi
  flock -u 9
  exec 9>&-
  echo "$jar:$KVRAFT_HOME/$module/target/lib/*"
}

# True when any source or pom changed since the last build by a launcher (Maven leaves an unchanged jar's
# time alone, so the jars' own times cannot tell).
kvraft_stale() {
  local stamp="$KVRAFT_HOME/target/.built"
  [ ! -f "$stamp" ] || [ -n "$(find "$KVRAFT_HOME"/{proto,storage,server}/src/main "$KVRAFT_HOME"/client-shell/*/src/main \
    "$KVRAFT_HOME/pom.xml" "$KVRAFT_HOME"/*/pom.xml "$KVRAFT_HOME"/*/*/pom.xml -newer "$stamp" -type f 2>/dev/null \
    | head -n1)" ]
}

# Maven with the JDK found above.
kvraft_mvn() {
  (cd "$KVRAFT_HOME" && JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$JAVA")")") \
    MAVEN_OPTS="${MAVEN_OPTS:-} $( [ "$JAVA_MAJOR" -ge 23 ] && echo --sun-misc-unsafe-memory-access=allow )" \
    mvn -B -Dstyle.color=never "$@")
}
