#!/usr/bin/env bash
# Installs the Debian packages Loa needs, idempotently. Safe to run again.
# Run it as yourself (it calls sudo for apt-get) or as root; a machine without
# sudo has only root, so run it as root there. scripts/preflight.js, which
# `npm start` and `npm test` run first, checks for the same packages.
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
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup-system: ${missing[*]} missing; installing them needs root, and sudo is not installed: run as root: su -c 'bash $0'" >&2
    exit 1
  fi
  sudo="sudo"
fi

echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"

# Debian starts mosquitto and redis as services where systemd runs. Loa's tests
# start their own on free loopback ports, so the system ones are not needed, and
# Debian's mosquitto would hold 127.0.0.1:1883, the port of `npm start`'s broker.
# Only services this run installed are stopped: a mosquitto already in use stays.
if [ -d /run/systemd/system ]; then
  for svc in mosquitto redis-server; do
    if [[ " ${missing[*]} " == *" $svc "* ]]; then
      echo "setup-system: stopping and disabling the $svc service it started (Loa runs its own; systemctl enable --now $svc brings it back)"
      $sudo systemctl disable --now "$svc" || true
    fi
  done
fi
echo "setup-system: done"
