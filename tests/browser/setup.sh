#!/usr/bin/env bash
# Installs what the browser tests need, idempotently: Debian's Chromium
# (Playwright's own browser downloads cannot work here: only the package
# registries are reachable) and playwright-core from npm, at the version
# package-lock.json pins. Safe to run again: it does nothing when both are
# there.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: /usr/bin/chromium is missing; as root: apt-get install -y chromium" >&2
    exit 1
  fi
  echo "== installing chromium (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null >&2
  apt-get install -y -qq --no-install-recommends chromium fonts-noto-core </dev/null >&2
fi

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: npm is missing; as root: apt-get install -y nodejs npm" >&2
    exit 1
  fi
  echo "== installing node and npm (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null >&2
  apt-get install -y -qq --no-install-recommends nodejs npm </dev/null >&2
fi

want=$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "try { require('./node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [ "$want" != "$have" ]; then
  echo "== npm ci (playwright-core $want)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
echo "browser test setup: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), playwright-core $want" >&2
