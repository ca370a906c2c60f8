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

# JVM flags that map the server's archive, made first when missing or older than a jar of the class path $1: a
# training run (dev.kvraft.server.ClassArchiveTraining: a three-node cluster in one JVM under a mixed load of
# puts, gets, scans, deletes, txns and watches, about 15 s in all). On JDK 25 and later the archive is an AOT cache
# (-XX:AOTCacheOutput, then -XX:AOTCache): the classes, loaded and linked; before JDK 25, a class-data-sharing
# archive of the classes (-XX:ArchiveClassesAtExit, then -XX:SharedArchiveFile). A node that maps the classes it
# needs instead of reading them from the jars, linked already, listens sooner (BENCHMARKS.md, "The JVM archive").
# The archive lies beside the jars, one per JDK major version; it is written under a temporary name
# and renamed, so nodes starting together share one complete file that nothing writes again. The JVM checks it
# against its own build, its flags and the jars and silently ignores one that does not match. Nothing is added when
# the archive cannot be made (a read-only installation, a failed training run: the node starts as it would
# without), when KVRAFT_CLASS_ARCHIVE=off, or when the JVM options $2 choose their own (-Xshare,
# SharedArchiveFile, AOTCache).
# A JVM size (1073741824, 1048576k, 1024m, 1g, 1t; after "-XX:MaxHeapSize=" too) in MiB, rounded down; 0 when it is
# not one.
kvraft_megabytes() {
  local v=${1#-XX:MaxHeapSize=} n unit
  n=${v%[kKmMgGtT]}
  unit=${v#"$n"}
  # At most 12 digits (no overflow below), read as decimal even with leading zeros, as the JVM reads it.
  [[ "$n" =~ ^[0-9]{1,12}$ ]] || { echo 0; return 0; }
  n=$((10#$n))
  case "$unit" in
    "") echo $((n / 1048576)) ;;
    k|K) echo $((n / 1024)) ;;
    m|M) echo "$n" ;;
    g|G) echo $((n * 1024)) ;;
    t|T) echo $((n * 1048576)) ;;
  esac
}

# The collector flags among the JVM options $1 (-XX:+UseG1GC, -XX:+UseZGC, ...), one per line; nothing when they
# name none.
kvraft_collectors() {
  local words word
  read -r -a words <<<"$1"
  for word in "${words[@]}"; do
    case "$word" in
      -XX:+UseSerialGC|-XX:+UseParallelGC|-XX:+UseG1GC|-XX:+UseZGC|-XX:+UseShenandoahGC|-XX:+UseEpsilonGC)
        echo "$word" ;;
    esac
  done
}

# The JVM options $1 with those the JVM also reads from its own environment variables.
kvraft_all_jvm_opts() {
  echo "$1 ${JAVA_TOOL_OPTIONS:-} ${JDK_JAVA_OPTIONS:-}"
}

kvraft_class_archive_flags() {
  local cp=$1 jvm_opts=${2:-} dir archive jars=() parts part
  [ "${KVRAFT_CLASS_ARCHIVE:-on}" = off ] && return 0
  # Options that choose their own archive (the JVM refuses some of them beside AOTCache), also from the environment.
  local all_opts
  all_opts=" $(kvraft_all_jvm_opts "$jvm_opts") "
  case "$all_opts" in
    *-Xshare*|*SharedArchiveFile*|*ArchiveClassesAtExit*|*SharedClassListFile*|*DumpLoadedClassList*) return 0 ;;
    *AOTCache*|*AOTMode*|*AOTConfiguration*|*-XX:-UseSharedSpaces*) return 0 ;;
  esac
  IFS=: read -r -a parts <<<"$cp"
  for part in "${parts[@]}"; do
    case "$part" in
      */\*) jars+=("${part%/\*}"/*.jar) ;;
      *) jars+=("$part") ;;
    esac
  done
  dir=$(dirname "${jars[0]}")
  # The AOT cache from JDK 25 on, unless the options are ones it does not serve (the JVM would ignore it, and with it
  # its own class archive): another collector than the training's G1, an agent, more modules, no compressed
  # pointers. Those get the class archive, as before JDK 25.
  local aot=no quiet="-Xlog:cds=off -Xlog:cds+dynamic=off" make=() check=() use
  if [ "$JAVA_MAJOR" -ge 25 ]; then
    aot=yes
    local words word
    [ -z "$(kvraft_collectors "$all_opts" | grep -vx -- -XX:+UseG1GC)" ] || aot=no
    read -r -a words <<<"$all_opts"
    for word in "${words[@]}"; do
      case "$word" in
        -javaagent*|-agentlib*|-agentpath*|--add-modules*) aot=no ;;
        # No compressed pointers (turned off, or a heap of 32 GB or more), unlike the training's.
        -XX:-UseCompressedOops|-XX:-UseCompressedClassPointers) aot=no ;;
        -Xmx*|-XX:MaxHeapSize=*) [ "$(kvraft_megabytes "${word#-Xmx}")" -lt 32768 ] || aot=no ;;
      esac
    done
  fi
  if [ "$aot" = yes ]; then
    archive="$dir/kvraft-server.jdk$JAVA_MAJOR.aot"
    # Classes only, no method profiles: with the training's profiles, one client's sequential puts stayed 0.25-0.4 ms
    # slower (BENCHMARKS.md, "The JVM archive"). The flag is diagnostic; a JDK without it ignores it.
    make=(-XX:+UnlockDiagnosticVMOptions -XX:+IgnoreUnrecognizedVMOptions -XX:-AOTRecordTraining
      -XX:AOTCacheOutput="$archive.tmp")
    check=(-XX:AOTMode=on -XX:AOTCache="$archive.tmp")
    use="-XX:AOTCache=$archive"
    quiet="-Xlog:aot=off $quiet" # a JDK before 25 may refuse to start on the unknown tag
  else
    archive="$dir/kvraft-server.jdk$JAVA_MAJOR.jsa"
    make=(-XX:ArchiveClassesAtExit="$archive.tmp")
    check=(-Xshare:on -XX:SharedArchiveFile="$archive.tmp")
    use="-XX:SharedArchiveFile=$archive"
  fi
  # The JDK counts like a jar: an update within the same major version makes the archive stale too.
  local jdk
  jdk=$(dirname "$(dirname "$(readlink -f "$JAVA")")")
  jars+=("$(readlink -f "$JAVA")")
  [ -f "$jdk/release" ] && jars+=("$jdk/release")
  # Missing, or older than a jar or the JDK. A failed training run leaves $archive.failed: not tried again for an
  # hour, or until a jar changes.
  kvraft_archive_older() {
    [ ! -e "$1" ] || [ -n "$(find "${jars[@]}" -newer "$1" 2>/dev/null | head -n1)" ] \
      || { [ "${1%.failed}" != "$1" ] && [ -n "$(find "$1" -mmin +60 2>/dev/null)" ]; }
  }
  if kvraft_archive_older "$archive" && kvraft_archive_older "$archive.failed" && [ -w "$dir" ] \
    && command -v flock >/dev/null 2>&1 && { exec 8>"$dir/.class-archive.lock"; } 2>/dev/null; then
    # One training run at a time; a launcher that cannot get the lock within two minutes starts without it.
    if flock -w 120 8 && kvraft_archive_older "$archive" && kvraft_archive_older "$archive.failed"; then
      echo "$(basename "$0"): making the JVM's archive for this build (a three-node training run, about 15 s)" >&2
      rm -f "$archive" "$archive.failed" "$archive.tmp" "$archive.tmp.config"
      # The run's own output, the JVM's archive messages included, goes to $archive.log. The archive is then mapped
      # once with the JVM told to fail when it cannot, so a file the JVM would ignore is never installed.
      # shellcheck disable=SC2046 # the flags are words
      if timeout -k 15 180 "$JAVA" $(kvraft_jvm_flags) -XX:+UseG1GC "${make[@]}" -cp "$cp" \
          dev.kvraft.server.ClassArchiveTraining >"$archive.log" 2>&1 && [ -s "$archive.tmp" ] \
        && "$JAVA" $(kvraft_jvm_flags) -XX:+UseG1GC "${check[@]}" -cp "$cp" -version >>"$archive.log" 2>&1; then
        chmod 0644 "$archive.tmp" # readable by a service user, whatever the umask of whoever made it
        mv -f "$archive.tmp" "$archive"
      else
        echo "$(basename "$0"): the JVM archive's training run failed (see $archive.log); starting without it" >&2
        rm -f "$archive.tmp" "$archive.tmp.config"
        touch "$archive.failed"
      fi
    fi
    flock -u 8
    exec 8>&-
  fi
  if [ -s "$archive" ] && ! kvraft_archive_older "$archive"; then
    echo "$use $quiet"
  fi
  return 0
}

# True when any source or pom changed since the last build by a launcher (Maven leaves an unchanged jar's
# time alone, so the jars' own times cannot tell).
kvraft_stale() {
  local stamp="$KVRAFT_HOME/target/.built"
  [ ! -f "$stamp" ] || [ -n "$(find "$KVRAFT_HOME"/{proto,storage,server,testkit}/src/main "$KVRAFT_HOME"/client-shell/*/src/main \
    "$KVRAFT_HOME/pom.xml" "$KVRAFT_HOME"/*/pom.xml "$KVRAFT_HOME"/*/*/pom.xml -newer "$stamp" -type f 2>/dev/null \
    | head -n1)" ]
}

# Maven with the JDK found above.
kvraft_mvn() {
  (cd "$KVRAFT_HOME" && JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$JAVA")")") \
    MAVEN_OPTS="${MAVEN_OPTS:-} $( [ "$JAVA_MAJOR" -ge 23 ] && echo --sun-misc-unsafe-memory-access=allow )" \
    mvn -B -Dstyle.color=never "$@")
}
