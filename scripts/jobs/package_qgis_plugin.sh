#!/usr/bin/env bash
# Build the installable QGIS plugin zip: OUT_DIR/rsdsva_qgis-<version>.zip, OUT_DIR by default
# dist/ (QGIS: Plugins > Manage and Install Plugins > Install from ZIP).
#   bash scripts/jobs/package_qgis_plugin.sh [OUT_DIR]
set -euo pipefail
out_dir=$(realpath -m "${1:-dist}")
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^version=//p' qgis_plugin/rsdsva_qgis/metadata.txt)
out="${out_dir}/rsdsva_qgis-${version}.zip"
mkdir -p "$out_dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r qgis_plugin/rsdsva_qgis "$tmp/"
find "$tmp" -name __pycache__ -prune -exec rm -rf {} +
cp LICENSE "$tmp/rsdsva_qgis/"
(cd "$tmp" && python3 -m zipfile -c plugin.zip rsdsva_qgis)
mv "$tmp/plugin.zip" "$out.part" && mv "$out.part" "$out"
echo "$out"
