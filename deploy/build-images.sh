#!/usr/bin/env bash
# Builds the Engram images offline from the binaries of a CMake build, the way every
# deploy/<image>/Containerfile does in its last two stages: a root filesystem of the program(s), the
# shared libraries ldd names, CA certificates and a non-root user (deploy/rootfs.sh), put into a
# FROM scratch image with Debian's buildah (vfs storage, no daemon, no registry), exported as an OCI
# archive, plus a CycloneDX SBOM per image (npm @cyclonedx/cdxgen, enriched with versioned pkg:deb
# purls from dpkg; deploy/sbom/sbom.mjs) checked with cdx-validate.
#
#   deploy/build-images.sh [--no-buildah] [--only IMAGE] BUILD_DIR OUT_DIR
#
# OUT_DIR/<image>/rootfs/       the image's filesystem       OUT_DIR/<image>/files.txt  its file list
# OUT_DIR/<image>.oci.tar       the image (oci-archive)      OUT_DIR/<image>.cdx.json   its SBOM
# --no-buildah skips the image archives (rootfs, file list and SBOM only).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
use_buildah=1
only=""
while [[ "${1:-}" == --* ]]; do
  case "$1" in
    --no-buildah) use_buildah=0; shift ;;
    --only) only="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
build="$(cd "${1:?usage: build-images.sh [--no-buildah] [--only IMAGE] BUILD_DIR OUT_DIR}" && pwd)"
mkdir -p "${2:?OUT_DIR}"
out="$(cd "$2" && pwd)"
version="$(sed -n 's/^project(engram VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
revision="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# image -> "SRC:DEST ..." (the first is the entrypoint)
declare -A contents=(
  [engram-storage]="$build/storage-server/engram-storage:/usr/local/bin/engram-storage"
  [engram-hybrid]="$build/services/hybrid/engram-hybrid:/usr/local/bin/engram-hybrid"
  [engram-api]="$build/services/api/engram-api:/usr/local/bin/engram-api"
  [engram-control]="$build/services/control/engram-control:/usr/local/bin/engram-control"
  # The snapshot jobs' image: engramctl, rclone and the few tools k8s/base/snapshot/engram-snapshot.sh
  # uses, with dash as /bin/sh. Not distroless (the job is a script), still non-root and minimal.
  [engram-tools]="$build/cli/engramctl/engramctl:/usr/local/bin/engramctl /usr/bin/rclone:/usr/bin/rclone /bin/dash:/bin/sh $(for t in sha256sum sort head tail wc mkdir rm cat; do printf '/usr/bin/%s:/usr/bin/%s ' "$t" "$t"; done)$root/k8s/base/snapshot/engram-snapshot.sh:/opt/engram/snapshot/engram-snapshot.sh"
)
declare -A descriptions=(
  [engram-storage]="Engram's durable, memory-mapped store (gRPC 50053, HTTP 9103)"
  [engram-hybrid]="Engram's embedders, extraction and reasoning (gRPC 50052, HTTP 9102)"
  [engram-api]="Engram's public API: gRPC engram.v1.Engram and REST (gRPC 50051, HTTP 8080)"
  [engram-control]="Engram's admin UI and admin API (HTTP 8090)"
  [engram-tools]="engramctl, rclone and the snapshot export/restore script"
)

if ((use_buildah)); then
  command -v buildah >/dev/null || { echo "buildah not found (apt-get install buildah) or pass --no-buildah" >&2; exit 1; }
  # Offline, rootless-friendly: vfs storage in OUT_DIR, no registries consulted.
  export STORAGE_DRIVER=vfs
  export BUILDAH_ISOLATION=chroot
  store=(--root "$out/.buildah/root" --runroot "$out/.buildah/run" --storage-driver vfs)
fi

built=()
for image in engram-storage engram-hybrid engram-api engram-control engram-tools; do
  [[ -z "$only" || "$only" == "$image" ]] || continue
  read -r -a specs <<<"${contents[$image]}"
  first="${specs[0]%%:*}"
  if [[ ! -x "$first" ]]; then
    echo ">> $image: $first is not built; skipped" >&2
    continue
  fi
  echo ">> $image"
  dir="$out/$image"
  rm -rf "$dir"
  mkdir -p "$dir"
  ROOTFS_FILES_LIST="$dir/files.txt" ROOTFS_SOURCES="$dir/sources.tsv" "$here/rootfs.sh" "$dir/rootfs" "${specs[@]}"
  entry="${specs[0]#*:}"
  if ((use_buildah)); then
    ctr="$(buildah "${store[@]}" from --name "$image-build-$$" scratch)"
    buildah "${store[@]}" copy --quiet "$ctr" "$dir/rootfs/" / >/dev/null
    labels=(
      --label "org.opencontainers.image.title=$image"
      --label "org.opencontainers.image.description=${descriptions[$image]}"
      --label "org.opencontainers.image.version=$version"
      --label "org.opencontainers.image.revision=$revision"
      --label "org.opencontainers.image.created=$created"
      --label "org.opencontainers.image.source=https://github.com/engram/engram"
      --label "org.opencontainers.image.licenses=Apache-2.0"
      --label "org.opencontainers.image.base.name=scratch"
    )
    if [[ "$image" == engram-tools ]]; then cmd=(--entrypoint '["/bin/sh"]'); else cmd=(--entrypoint "[\"$entry\"]"); fi
    annotations=()
    for l in "${labels[@]}"; do [[ "$l" == --label ]] || annotations+=(--annotation "$l"); done
    buildah "${store[@]}" config --user 65532:65532 --workingdir / --env PATH=/usr/local/bin:/usr/bin:/bin \
      "${cmd[@]}" --cmd '[]' "${labels[@]}" "${annotations[@]}" "$ctr"
    rm -f "$out/$image.oci.tar"
    buildah "${store[@]}" commit --quiet --format oci "$ctr" "oci-archive:$out/$image.oci.tar:engram/$image:$version" >/dev/null
    buildah "${store[@]}" rm "$ctr" >/dev/null
  fi
  archive=()
  ((use_buildah)) && archive=(--archive "$out/$image.oci.tar")
  node "$here/sbom/sbom.mjs" --image "$image" --version "$version" --rootfs "$dir/rootfs" \
    --sources "$dir/sources.tsv" --out "$out/$image.cdx.json" "${archive[@]}"
  built+=("$image")
done
echo ">> built: ${built[*]:-nothing}"
