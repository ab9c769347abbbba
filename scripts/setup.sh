#!/usr/bin/env bash
# Installs what moge needs on a fresh Debian machine: a Rust toolchain (assumed present) and a host C++
# compiler for the emulator backend. Safe to run again.
set -euo pipefail
if ! command -v g++ >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq g++ >/dev/null
  else
    echo "moge setup: g++ is missing; install it (apt-get install g++)" >&2
    exit 1
  fi
fi
# The scripts of a `mogec export --cann` project (gen_data.py, verify_result.py) use NumPy; the tests
# run them.
if ! python3 -c "import numpy" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq python3 python3-numpy >/dev/null
  else
    echo "moge setup: python3 with numpy is missing; install it (apt-get install python3-numpy)" >&2
    exit 1
  fi
fi
