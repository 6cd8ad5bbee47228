#!/usr/bin/env bash
# Installs what Keyflow needs from Debian's packages when it is missing, and fetches Go modules.
# Safe to run again: it only installs what is absent.
set -euo pipefail

need=()
have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
have_pg || need+=(postgresql)
# xmlsec1 verifies the SAML IdP's signed responses in api/saml's tests.
command -v xmlsec1 >/dev/null 2>&1 || need+=(xmlsec1)
# slapd and ldap-utils (ldapadd) run the private OpenLDAP servers of the LDAP user store tests
# (connectors/ldapstore/slapdtest). Debian's slapd package may start a system slapd on port 389;
# the tests never use it (they start their own on a free loopback port).
[ -x /usr/sbin/slapd ] || need+=(slapd)
[ -x /usr/bin/ldapadd ] || need+=(ldap-utils)
# Chromium runs the browser end-to-end suite (e2e/, driven by cmd/keyflow's TestE2E).
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# Debian's postgresql package starts a cluster of its own; Keyflow runs private clusters instead and
# does not need it. Leave it alone if it was there before.
go mod download

# The browser suite's Node packages (playwright-core, openid-client, node-saml), pinned by
# e2e/package-lock.json: installed when missing or older than the lock file.
e2e="$(cd "$(dirname "$0")/.." && pwd)/e2e"
if [ ! -d "$e2e/node_modules" ] || [ "$e2e/package-lock.json" -nt "$e2e/node_modules" ]; then
  command -v npm >/dev/null 2>&1 || { echo "npm (Node.js 20 or later) is needed for e2e/" >&2; exit 1; }
  npm ci --prefix "$e2e" --no-audit --no-fund
  touch "$e2e/node_modules"
fi
