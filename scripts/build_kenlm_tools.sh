#!/usr/bin/env bash
# Build KenLM's `lmplz` (Kneser-Ney ARPA estimation) and `build_binary` from the same PyPI kenlm source
# release the Python binding comes from, and install them into a bin folder (default: .venv/bin).
# Needs cmake, g++ and Boost (program_options, system, thread); as root on Debian/Ubuntu they are installed.
set -euo pipefail
DEST="${1:-.venv/bin}"
PIP="${PIP:-$DEST/pip}"
KENLM_VERSION="${KENLM_VERSION:-0.3.0}"
if [ -x "$DEST/lmplz" ] && [ -x "$DEST/build_binary" ]; then exit 0; fi

boost_ok() { [ -e /usr/include/boost/program_options.hpp ] && [ -e /usr/include/boost/thread.hpp ]; }
if ! boost_ok && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  pkgs="cmake g++ libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends $pkgs >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $pkgs >/dev/null; }
fi
boost_ok || { echo "error: Boost headers not found: install libboost-program-options-dev libboost-system-dev libboost-thread-dev" >&2; exit 2; }
command -v cmake >/dev/null || { echo "error: cmake not found: install cmake" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PIP" download -q --disable-pip-version-check --no-deps --no-build-isolation --no-binary kenlm "kenlm==$KENLM_VERSION" -d "$work"
tar xzf "$work/kenlm-$KENLM_VERSION.tar.gz" -C "$work"
log="$work/build.log"
{ cmake -S "$work/kenlm-$KENLM_VERSION" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 \
  && cmake --build "$work/build" --target lmplz build_binary -j "$(nproc)"; } >"$log" 2>&1 \
  || { tail -20 "$log" >&2; echo "error: building KenLM's lmplz failed (log above)" >&2; exit 2; }
mkdir -p "$DEST"
for tool in lmplz build_binary; do
  install -m 755 "$work/build/bin/$tool" "$DEST/$tool.tmp" && mv "$DEST/$tool.tmp" "$DEST/$tool"
done
echo "installed lmplz and build_binary (KenLM $KENLM_VERSION) into $DEST"
