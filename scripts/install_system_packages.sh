#!/usr/bin/env bash
# Installs the Debian packages the services need, once. Idempotent: returns at once when
# everything is present.
#   espeak-ng       last-resort Russian voice and test speech
#   ffmpeg, sox     audio tools (PyAV bundles its own FFmpeg; these serve scripts and users)
#   rhvoice ...     the offline Russian fallback voices; they live in Debian's `non-free`
#                   component, which we enable only for this install through a private apt
#                   configuration derived from the machine's own Debian source entry.
# With --dev, also what the tests need:
#   docker-compose  validates docker-compose.yml (`docker-compose config`) without an engine
#   chromium        the headless browser of the dashboard's end-to-end test (Playwright drives it)
#   nginx-light     the load balancer of the replica test (tests/test_replicas.py); production
#                   runs the official nginx image from docker-compose.yml's `scale` profile
#   faketime        `make test` reruns the calendar-dependent tests a year ahead (libfaketime)
set -euo pipefail

MAIN_PACKAGES=(espeak-ng ffmpeg sox)
[ "${1:-}" = "--dev" ] && MAIN_PACKAGES+=(docker-compose chromium nginx-light faketime)
NONFREE_PACKAGES=(rhvoice rhvoice-russian librhvoice5)

missing=()
for pkg in "${MAIN_PACKAGES[@]}" "${NONFREE_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "!! Not a Debian/Ubuntu system: please install ${missing[*]} yourself." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "!! Missing system packages: ${missing[*]}. Run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
echo ">> Installing system packages: ${missing[*]}"

# Private apt configuration: the machine's first Debian source stanza, with contrib and
# non-free added. Nothing under /etc/apt is changed.
APT_DIR="$(mktemp -d)"
trap 'rm -rf "$APT_DIR"' EXIT
mkdir -p "$APT_DIR/parts" "$APT_DIR/lists/partial"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  awk 'BEGIN{RS=""; ORS="\n\n"} /Types:/ {print; exit}' /etc/apt/sources.list.d/debian.sources \
    | sed 's/^Components:.*/Components: main contrib non-free/' > "$APT_DIR/parts/nonfree.sources"
elif [ -f /etc/apt/sources.list ]; then
  grep -m1 -E '^deb ' /etc/apt/sources.list \
    | awk '{ $0 = $1 " " $2 " " $3 " main contrib non-free"; print }' > "$APT_DIR/parts/nonfree.list"
fi
APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$APT_DIR/parts"
          -o "Dir::State::Lists=$APT_DIR/lists")
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get "${APT_OPTS[@]}" update -qq
$SUDO apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}"
