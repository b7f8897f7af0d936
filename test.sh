#!/usr/bin/env bash
# The test command from the README: installs the external peers the tests use
# (Debian's mbpoll, an independent Modbus client; socat for RTU over pseudo-terminals;
# mosquitto, the MQTT broker the Home Assistant tests talk to; openssl, for the TLS test's
# certificates; Debian's chromium and chromium-driver for the dashboard's browser tests;
# systemd's systemd-analyze, which checks the service unit)
# when missing, then runs every test.
set -euo pipefail
cd "$(dirname "$0")"
need=()
command -v mbpoll >/dev/null 2>&1 || need+=(mbpoll)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]} (apt-get install -y ${need[*]})"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get -o DPkg::Lock::Timeout=120 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=120 install -y -qq "${need[@]}"
fi
cargo test "$@"
