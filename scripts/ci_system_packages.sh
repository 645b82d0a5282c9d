#!/usr/bin/env bash
# System packages the test suite needs beyond Python (as root on Debian/Ubuntu): ffmpeg, for the m4a/video input
# tests; chromium, for the server's web page test (microphone from a file). Does nothing when they are present or
# when not root (those tests then skip outside CI).
set -euo pipefail
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v chromium >/dev/null || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
else
  echo "note: not installing ${need[*]} (not root or no apt-get); the tests that need them skip" >&2
fi
