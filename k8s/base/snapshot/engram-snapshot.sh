#!/bin/sh
# Snapshot export to / restore from object storage. One script for the CronJob, the restore Job, an
# operator's shell and the test (tests/k8s/snapshot_export_test.mjs); it needs only sh, engramctl,
# rclone, sha256sum, sort, head, tail, wc, mkdir and rm (the engram-tools image).
#
#   engram-snapshot.sh export              create a snapshot in engram-storage, download it (verified),
#                                          upload NAME.tar then NAME.tar.sha256, prune old archives
#   engram-snapshot.sh list                archives in object storage, oldest first
#   engram-snapshot.sh fetch NAME|latest   download NAME.tar + .sha256 into the work dir and verify
#   engram-snapshot.sh restore NAME|latest fetch, then restore into an EMPTY engram-storage
#
# Environment:
#   ENGRAM_STORAGE_ADDR            engram-storage gRPC address (engramctl; default 127.0.0.1:50053)
#   ENGRAM_BACKUP_REMOTE           rclone destination, e.g. s3:my-bucket/engram/prod, gcs:bucket/engram,
#                                  azureblob:container/engram (required). Credentials: rclone's own
#                                  RCLONE_CONFIG_<REMOTE>_* variables (a Secret in Kubernetes).
#   ENGRAM_BACKUP_RETENTION        archives kept in object storage (default 14)
#   ENGRAM_SERVER_SNAPSHOTS_KEEP   snapshots kept on storage's snapshot volume (default 2)
#   ENGRAM_WORK_DIR                scratch directory for one archive (default /work)
#   ENGRAMCTL, RCLONE              the binaries (default: from PATH)
#   ENGRAM_RCLONE_FLAGS            extra rclone flags (e.g. --s3-no-check-bucket)
#
# An archive counts as exported once its .sha256 is in object storage (uploaded last): list, fetch and
# prune only look at archives that have one.
set -eu

ENGRAMCTL="${ENGRAMCTL:-engramctl}"
RCLONE="${RCLONE:-rclone}"
WORK="${ENGRAM_WORK_DIR:-/work}"
RETENTION="${ENGRAM_BACKUP_RETENTION:-14}"
SERVER_KEEP="${ENGRAM_SERVER_SNAPSHOTS_KEEP:-2}"
RFLAGS="${ENGRAM_RCLONE_FLAGS:-}"

log() { echo "engram-snapshot: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

remote() {
  [ -n "${ENGRAM_BACKUP_REMOTE:-}" ] || die "ENGRAM_BACKUP_REMOTE is not set (e.g. s3:bucket/engram)"
  # No trailing slash, so "$(remote)/NAME" is one path.
  r="${ENGRAM_BACKUP_REMOTE%/}"
  echo "$r"
}

positive() {  # positive NAME VALUE
  case "$2" in '' | *[!0-9]*) die "$1 must be a whole number, not '$2'" ;; esac
}

# Archives in object storage that are complete (have their .sha256), oldest first (names sort by time).
list_remote() {
  # shellcheck disable=SC2086
  "$RCLONE" $RFLAGS lsf --files-only --include 'snap-*.tar.sha256' "$(remote)/" | sort | while read -r f; do
    echo "${f%.tar.sha256}"
  done
}

cmd_export() {
  positive ENGRAM_BACKUP_RETENTION "$RETENTION"
  positive ENGRAM_SERVER_SNAPSHOTS_KEEP "$SERVER_KEEP"
  [ "$RETENTION" -ge 1 ] || die "ENGRAM_BACKUP_RETENTION must be at least 1"
  [ "$SERVER_KEEP" -ge 1 ] || die "ENGRAM_SERVER_SNAPSHOTS_KEEP must be at least 1"
  dest="$(remote)"
  mkdir -p "$WORK"

  log "creating a snapshot in engram-storage (${ENGRAM_STORAGE_ADDR:-127.0.0.1:50053})"
  out="$("$ENGRAMCTL" snapshot create)" || die "snapshot create failed"
  # "created snap-...  12.3 MiB  seq 42  <time>  sha256 <prefix>  namespaces a, b": the first word
  # that is a snapshot name.
  name=""
  for word in $out; do
    case "$word" in snap-*) name="$word"; break ;; esac
  done
  [ -n "$name" ] || die "unexpected answer from 'engramctl snapshot create': $out"
  log "created $name"

  archive="$WORK/$name.tar"
  rm -f "$archive" "$archive.sha256" "$archive.part"
  # engramctl checks size and SHA-256 against the server's listing and writes NAME.tar.sha256.
  "$ENGRAMCTL" snapshot download "$name" "$archive" >/dev/null || die "download of $name failed"
  (cd "$WORK" && sha256sum -c --quiet "$name.tar.sha256") || die "$name.tar does not match its .sha256"
  log "downloaded and verified $archive"

  # shellcheck disable=SC2086
  "$RCLONE" $RFLAGS copyto "$archive" "$dest/$name.tar" || die "upload of $name.tar failed"
  # Size (and MD5 where the backend has one) of what landed, before the .sha256 marks it complete.
  # shellcheck disable=SC2086
  "$RCLONE" $RFLAGS check --one-way --include "$name.tar" "$WORK" "$dest" ||
    die "uploaded $name.tar differs from the local copy"
  # shellcheck disable=SC2086
  "$RCLONE" $RFLAGS copyto "$archive.sha256" "$dest/$name.tar.sha256" || die "upload of $name.tar.sha256 failed"
  log "uploaded $dest/$name.tar (+ .sha256)"
  rm -f "$archive" "$archive.sha256"

  # Retention in object storage: keep the newest $RETENTION complete archives.
  total="$(list_remote | wc -l)"
  excess=$((total - RETENTION))
  if [ "$excess" -gt 0 ]; then
    list_remote | head -n "$excess" | while read -r old; do
      [ "$old" = "$name" ] && continue
      log "pruning $dest/$old.tar (retention $RETENTION)"
      # shellcheck disable=SC2086
      "$RCLONE" $RFLAGS deletefile "$dest/$old.tar.sha256" || die "cannot delete $old.tar.sha256"
      # shellcheck disable=SC2086
      "$RCLONE" $RFLAGS deletefile "$dest/$old.tar" || log "warning: $old.tar was already gone"
    done
  fi

  # Retention on storage's snapshot volume: keep the newest $SERVER_KEEP snapshots.
  "$ENGRAMCTL" snapshot list | while read -r line; do
    for word in $line; do
      case "$word" in snap-*) echo "$word"; break ;; esac
    done
  done | sort >"$WORK/.server-snapshots"
  total="$(wc -l <"$WORK/.server-snapshots")"
  excess=$((total - SERVER_KEEP))
  if [ "$excess" -gt 0 ]; then
    head -n "$excess" "$WORK/.server-snapshots" | while read -r old; do
      [ "$old" = "$name" ] && continue
      log "deleting $old from engram-storage's snapshot volume (keeping $SERVER_KEEP)"
      "$ENGRAMCTL" snapshot delete "$old" >/dev/null || die "cannot delete $old in engram-storage"
    done
  fi
  rm -f "$WORK/.server-snapshots"
  echo "$name"
}

resolve() {  # resolve NAME|latest -> NAME
  if [ "$1" = latest ]; then
    n="$(list_remote | tail -n 1)"
    [ -n "$n" ] || die "no complete archive in $(remote)"
    echo "$n"
  else
    case "$1" in snap-*) echo "${1%.tar}" ;; *) die "not a snapshot name: $1" ;; esac
  fi
}

cmd_fetch() {
  [ $# -eq 1 ] || die "usage: $0 fetch NAME|latest"
  name="$(resolve "$1")"
  src="$(remote)"
  mkdir -p "$WORK"
  rm -f "$WORK/$name.tar" "$WORK/$name.tar.sha256"
  # shellcheck disable=SC2086
  "$RCLONE" $RFLAGS copyto "$src/$name.tar.sha256" "$WORK/$name.tar.sha256" || die "no $name.tar.sha256 in $src"
  # shellcheck disable=SC2086
  "$RCLONE" $RFLAGS copyto "$src/$name.tar" "$WORK/$name.tar" || die "download of $name.tar failed"
  if ! (cd "$WORK" && sha256sum -c --quiet "$name.tar.sha256"); then
    rm -f "$WORK/$name.tar"
    die "$name.tar from $src does not match its .sha256 (deleted the local copy)"
  fi
  log "fetched and verified $WORK/$name.tar"
  echo "$WORK/$name.tar"
}

cmd_restore() {
  [ $# -eq 1 ] || die "usage: $0 restore NAME|latest"
  file="$(cmd_fetch "$1")"
  log "restoring $file into ${ENGRAM_STORAGE_ADDR:-127.0.0.1:50053} (the server must hold no data)"
  "$ENGRAMCTL" snapshot restore "$file" >&2 || die "restore failed (a server that holds data refuses it)"
  log "restored ${file##*/}"
}

case "${1:-}" in
  export) shift; cmd_export "$@" ;;
  list) list_remote ;;
  fetch) shift; cmd_fetch "$@" ;;
  restore) shift; cmd_restore "$@" ;;
  *) echo "usage: $0 export | list | fetch NAME|latest | restore NAME|latest" >&2; exit 2 ;;
esac
