#!/usr/bin/env bash
# Installs the Debian packages Loa needs, idempotently. Safe to run again.
#   g++, make, python3         build native modules (better-sqlite3, classic-level, speaker)
#   ffmpeg, espeak-ng          audio ingest, decode, Vietnamese TTS
#   libasound2-dev, alsa-utils build the `speaker` module; aplay for comparison benches
#   mosquitto(-clients)        interop tests and the broker benchmark peer
#   redis-server               the broker's cluster mode (--redis)
#   chromium                   headless browser tests of the web UIs
#   faketime                   the fault suite moves an agent's wall clock (libfaketime), as a Pi without RTC sees it
set -euo pipefail

packages=(g++ make python3 ffmpeg espeak-ng libasound2-dev alsa-utils mosquitto mosquitto-clients redis-server chromium faketime ca-certificates openssl)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-system: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"

# Debian starts mosquitto and redis as services where systemd runs; Loa's tests
# start their own instances on loopback ports, so the system ones are not needed.
echo "setup-system: done"
