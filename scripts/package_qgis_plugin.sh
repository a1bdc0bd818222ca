#!/usr/bin/env bash
# Build the installable QGIS plugin zip: dist/rsdsva_qgis-<version>.zip
# (QGIS: Plugins > Manage and Install Plugins > Install from ZIP).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version=//p' qgis_plugin/rsdsva_qgis/metadata.txt)
out="dist/rsdsva_qgis-${version}.zip"
mkdir -p dist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r qgis_plugin/rsdsva_qgis "$tmp/"
find "$tmp" -name __pycache__ -prune -exec rm -rf {} +
cp LICENSE "$tmp/rsdsva_qgis/"
(cd "$tmp" && python3 -m zipfile -c plugin.zip rsdsva_qgis)
mv "$tmp/plugin.zip" "$out.part" && mv "$out.part" "$out"
echo "$out"
