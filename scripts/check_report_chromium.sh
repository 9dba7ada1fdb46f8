#!/usr/bin/env bash
# Renders a cpllm HTML report in headless Chromium and checks that it really rendered.
#
#   scripts/check_report_chromium.sh REPORT.html [SCREENSHOT.png]
#
# REPORT.html is what `python -m beam_pipelines.report --output_dir DIR` (or `make demo`)
# wrote, e.g. demo_out/tables/report.html. The screenshot (default: REPORT.png beside the
# report) is a 1200 px wide PNG of the first REPORT_HEIGHT (default 4000) px of the page.
# Checks, in order:
#   1. every <img src> of the report exists (relative to the report);
#   2. Chromium loads the page and writes a non-empty screenshot;
#   3. the screenshot is not blank (more than 16 colours), checked with the project's
#      Python (Pillow), if .venv/bin/python or python3 with Pillow is found.
# Exit status 0 when all pass, 1 when a check fails, 2 on usage errors / no Chromium.
#
# Needs Debian's `chromium` package (apt-get install -y chromium); the test suite does NOT
# depend on it. Runs as root in containers, hence --no-sandbox.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  sed -n '2,17p' "$0" >&2
  exit 2
fi
report=$(realpath "$1")
shot=${2:-${report%.html}.png}
[[ -f "$report" ]] || { echo "no such report: $report" >&2; exit 2; }

browser=""
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then browser=$(command -v "$name"); break; fi
done
[[ -n "$browser" ]] || { echo "Chromium not found: apt-get install -y chromium" >&2; exit 2; }

# 1. every referenced image exists
dir=$(dirname "$report")
missing=0
while IFS= read -r src; do
  [[ -z "$src" ]] && continue
  if [[ ! -s "$dir/$src" ]]; then echo "missing image: $src" >&2; missing=1; fi
done < <(grep -o "<img src='[^']*'" "$report" | sed "s/^<img src='//; s/'$//")
[[ $missing -eq 0 ]] || exit 1
echo "images: $(grep -o "<img src=" "$report" | wc -l) referenced, all present"

# 2. render
rm -f "$shot"
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1200,"${REPORT_HEIGHT:-4000}" --screenshot="$shot" "file://$report" >/dev/null 2>&1 || true
if [[ ! -s "$shot" ]]; then echo "Chromium wrote no screenshot" >&2; exit 1; fi
echo "screenshot: $shot ($(stat -c %s "$shot") bytes)"

# 3. not blank
py=""
for cand in "$(dirname "$0")/../.venv/bin/python" python3; do
  if "$cand" -c "import PIL" >/dev/null 2>&1; then py=$cand; break; fi
done
if [[ -n "$py" ]]; then
  "$py" - "$shot" <<'EOF'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
colours = im.getcolors(maxcolors=1 << 20)
n = len(colours) if colours else 1 << 20
print(f"rendered: {im.size[0]}x{im.size[1]}, {n} colours")
sys.exit(0 if n > 16 else 1)
EOF
fi
