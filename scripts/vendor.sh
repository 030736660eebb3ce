#!/usr/bin/env bash
# Refresh the vendored front-end assets from pinned npm package versions.
#
#   bash scripts/vendor.sh        # then review `git diff` and commit
#
# Every package is fetched with `npm pack NAME@VERSION` (the npm client's
# configured registry, by package name only) into a temporary directory, its
# tarball is checked against the pinned npm integrity (sha512), and only the
# files the blog needs plus their licences are copied into:
#
#   static/vendor/easymde/        EasyMDE editor (served to authors)
#   static/vendor/font-awesome/   Font Awesome 4.7 (EasyMDE's toolbar icons)
#   tests/vendor/axe-core/        axe-core (injected by Playwright in a11y tests)
#   static/vendor/VERSIONS.txt    name, version, licence, integrity, sha256s
#
# Nothing is downloaded at run time by the blog: pages load these local copies.
#
# To bump a package: change its *_VERSION below, set its *_INTEGRITY to "" and
# run the script; it prints the new integrity, which you then pin here.
set -euo pipefail

# --- pinned versions --------------------------------------------------------
EASYMDE_VERSION=2.21.0
EASYMDE_INTEGRITY=sha512-5uE7I/DEN8gvGRwxaqAv7h1PMEK2ykNXVX5zL0dK3nCYROGja3AMbdQz8eCEELnfvCfy7tRkTmLuvyJG8uSWjQ==

FONT_AWESOME_VERSION=4.7.0
FONT_AWESOME_INTEGRITY=sha512-U6kGnykA/6bFmg1M/oT9EkFeIYv7JlX3bozwQJWiiLz6L0w3F5vBVPxHlwyX/vtNq1ckcpRKOB9f2Qal/VtFpg==

AXE_CORE_VERSION=4.14.1
AXE_CORE_INTEGRITY=sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==

# Licence-text sources only (no code from these is copied):
# easymde.min.js bundles CodeMirror 5 (its CodeMirror.version is 5.65.15),
# marked 4.x, codemirror-spell-checker 1.1.2 and Typo.js; their notices go to
# static/vendor/easymde/THIRD-PARTY-LICENSES.txt.
CODEMIRROR_VERSION=5.65.15
CODEMIRROR_INTEGRITY=sha512-YC4EHbbwQeubZzxLl5G4nlbLc1T21QTrKGaOal/Pkm9dVDMZXMH7+ieSPEOZCtO9I68i8/oteJKOxzHC2zR+0g==
MARKED_VERSION=4.3.0
MARKED_INTEGRITY=sha512-PRsaiG84bK+AMvxziE/lCFss8juXjNaWzVbN5tXAm4XjeaS9NAHhop+PjQxz2A9h8Q4M/xGmzP8vqNwy6JeK0A==
CM_SPELL_CHECKER_VERSION=1.1.2
CM_SPELL_CHECKER_INTEGRITY=sha512-2Tl6n0v+GJRsC9K3MLCdLaMOmvWL0uukajNJseorZJsslaxZyZMgENocPU8R0DyoTAiKsyqiemSOZo7kjGV0LQ==
# Full SPDX texts of OFL-1.1 and MIT for Font Awesome (its npm package only
# names the licences in its README).
SPDX_LICENSE_LIST_VERSION=6.12.0
SPDX_LICENSE_LIST_INTEGRITY=sha512-+nUYqm3aZMSHbjsthK+i/HHI2okTElCvqwUd4k8QcSk+FTGgjq+fsdFj2wZOaX6XmR2JdWhf/NeflNnvKOjcnQ==
# ---------------------------------------------------------------------------

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATIC_VENDOR=$ROOT/static/vendor
TESTS_VENDOR=$ROOT/tests/vendor

command -v npm >/dev/null || { echo "vendor.sh: npm is required" >&2; exit 1; }
command -v node >/dev/null || { echo "vendor.sh: node is required" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blog-vendor.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# VERSIONS.txt rows, collected as packages are fetched.
VERSION_ROWS=()

# fetch NAME VERSION PINNED_INTEGRITY ROLE
# Packs NAME@VERSION into $WORK, verifies it and extracts it to $WORK/NAME/.
fetch() {
    local name=$1 version=$2 pinned=$3 role=$4
    local dir=$WORK/$name
    mkdir -p "$dir"
    (cd "$WORK" && npm pack "$name@$version" --json --ignore-scripts --silent) >"$dir.json"

    local tarball integrity license
    tarball=$WORK/$(node -e 'process.stdout.write(require(process.argv[1])[0].filename)' "$dir.json")
    # Integrity computed locally from the tarball bytes, not trusted from npm.
    integrity="sha512-$(openssl dgst -sha512 -binary "$tarball" | openssl base64 -A)"
    if [[ -n $pinned && $integrity != "$pinned" ]]; then
        echo "vendor.sh: $name@$version integrity mismatch" >&2
        echo "  pinned: $pinned" >&2
        echo "  got:    $integrity" >&2
        exit 1
    elif [[ -z $pinned ]]; then
        echo "vendor.sh: $name@$version has no pinned integrity; it is $integrity" >&2
    fi

    tar -xzf "$tarball" -C "$dir" --no-same-owner --no-same-permissions
    license=$(node -e 'const p=require(process.argv[1]);process.stdout.write(String(p.license||"UNKNOWN"))' \
        "$dir/package/package.json")
    VERSION_ROWS+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$name" "$version" "$license" "$role" \
        "$integrity" "$(sha256sum "$tarball" | cut -d' ' -f1)")")
}

# spdx_text ID: full text of an SPDX licence from spdx-license-list.
spdx_text() {
    node -e 'process.stdout.write(require(process.argv[1]).licenseText.trimEnd()+"\n")' \
        "$WORK/spdx-license-list/package/licenses/$1.json"
}

# install SRC DEST: copy one file, mode 0644.
install_file() {
    install -D -m 0644 "$1" "$2"
}

fetch easymde "$EASYMDE_VERSION" "$EASYMDE_INTEGRITY" "static/vendor/easymde"
fetch font-awesome "$FONT_AWESOME_VERSION" "$FONT_AWESOME_INTEGRITY" "static/vendor/font-awesome"
fetch axe-core "$AXE_CORE_VERSION" "$AXE_CORE_INTEGRITY" "tests/vendor/axe-core"
fetch codemirror "$CODEMIRROR_VERSION" "$CODEMIRROR_INTEGRITY" "licence text (bundled in easymde)"
fetch marked "$MARKED_VERSION" "$MARKED_INTEGRITY" "licence text (bundled in easymde)"
fetch codemirror-spell-checker "$CM_SPELL_CHECKER_VERSION" "$CM_SPELL_CHECKER_INTEGRITY" \
    "licence text (bundled in easymde)"
fetch spdx-license-list "$SPDX_LICENSE_LIST_VERSION" "$SPDX_LICENSE_LIST_INTEGRITY" \
    "licence text (OFL-1.1, MIT for font-awesome)"

# Remove only the directories this script owns, so dropped files disappear.
rm -rf "$STATIC_VENDOR/easymde" "$STATIC_VENDOR/font-awesome" "$TESTS_VENDOR/axe-core"

# --- easymde ----------------------------------------------------------------
src=$WORK/easymde/package
dst=$STATIC_VENDOR/easymde
install_file "$src/dist/easymde.min.js" "$dst/easymde.min.js"
install_file "$src/dist/easymde.min.css" "$dst/easymde.min.css"
install_file "$src/LICENSE" "$dst/LICENSE"
{
    echo "Third-party software bundled inside easymde.min.js / easymde.min.css (EasyMDE $EASYMDE_VERSION)."
    echo "Each licence below is copied from that package's npm tarball."
    echo
    echo "==============================================================================="
    echo "CodeMirror $CODEMIRROR_VERSION (MIT)"
    echo "==============================================================================="
    cat "$WORK/codemirror/package/LICENSE"
    echo
    echo "==============================================================================="
    echo "marked 4.x (licence text from marked $MARKED_VERSION; MIT, with Markdown.pl's BSD-3-Clause notice)"
    echo "==============================================================================="
    cat "$WORK/marked/package/LICENSE.md"
    echo
    echo "==============================================================================="
    echo "codemirror-spell-checker $CM_SPELL_CHECKER_VERSION (MIT)"
    echo "==============================================================================="
    cat "$WORK/codemirror-spell-checker/package/LICENSE"
    echo
    echo "==============================================================================="
    echo "Typo.js (BSD-3-Clause), pulled in by codemirror-spell-checker"
    echo "==============================================================================="
    echo "Its npm package ships no licence file; its README states:"
    echo "\"Typo.js is free software, licensed under the Modified BSD License.\""
    echo "Author (per its package.json): Christopher Finke."
} >"$dst/THIRD-PARTY-LICENSES.txt"
chmod 0644 "$dst/THIRD-PARTY-LICENSES.txt"

# --- font-awesome -----------------------------------------------------------
# The CSS's final @font-face src lists eot (format embedded-opentype), woff2,
# woff, ttf and svg; browsers pick the first supported format, so Chromium,
# Firefox and Safari load woff2 and never request the others. woff is kept as a
# fallback; eot/ttf/svg/otf (IE and legacy) are not vendored.
src=$WORK/font-awesome/package
dst=$STATIC_VENDOR/font-awesome
install_file "$src/css/font-awesome.min.css" "$dst/css/font-awesome.min.css"
install_file "$src/fonts/fontawesome-webfont.woff2" "$dst/fonts/fontawesome-webfont.woff2"
install_file "$src/fonts/fontawesome-webfont.woff" "$dst/fonts/fontawesome-webfont.woff"
{
    echo "Font Awesome $FONT_AWESOME_VERSION by Dave Gandy (@davegandy)."
    echo
    echo "  - The Font Awesome font (fonts/fontawesome-webfont.*) is licensed under the"
    echo "    SIL Open Font License 1.1 (OFL-1.1), full text below."
    echo "  - The Font Awesome CSS (css/font-awesome.min.css) is licensed under the"
    echo "    MIT License, full text below."
    echo
    echo "Licence section of the package's README.md, verbatim:"
    echo
    # From "## License" up to the next "## " heading.
    awk '/^## /{p=($0=="## License")} p' "$src/README.md"
    echo "==============================================================================="
    echo "Header of css/font-awesome.min.css, verbatim:"
    echo "==============================================================================="
    sed -n '1,/\*\//p' "$src/css/font-awesome.min.css" | sed 's/\*\/.*/*\//'
    echo
    echo "==============================================================================="
    echo "SIL Open Font License 1.1 (fonts)"
    echo "==============================================================================="
    spdx_text OFL-1.1
    echo
    echo "==============================================================================="
    echo "MIT License (CSS)"
    echo "==============================================================================="
    spdx_text MIT | sed 's/Copyright (c) <year> <copyright holders>/Copyright (c) Dave Gandy (Font Awesome, http:\/\/fontawesome.io)/'
} >"$dst/LICENSE.txt"
chmod 0644 "$dst/LICENSE.txt"

# --- axe-core (tests only, never served) ------------------------------------
src=$WORK/axe-core/package
dst=$TESTS_VENDOR/axe-core
install_file "$src/axe.min.js" "$dst/axe.min.js"
install_file "$src/LICENSE" "$dst/LICENSE"
install_file "$src/LICENSE-3RD-PARTY.txt" "$dst/LICENSE-3RD-PARTY.txt"

# --- VERSIONS.txt -----------------------------------------------------------
{
    echo "# Vendored front-end packages. Generated by scripts/vendor.sh; do not edit."
    echo "# Each tarball came from \`npm pack NAME@VERSION\`."
    echo "# integrity = npm's SRI sha512 of the tarball; tarball_sha256 = sha256 of the same tarball."
    echo
    printf 'name\tversion\tlicense\tused_for\tintegrity\ttarball_sha256\n'
    printf '%s\n' "${VERSION_ROWS[@]}"
    echo
    echo "# sha256 of every vendored file (paths relative to the repository root)"
    (cd "$ROOT" && find static/vendor/easymde static/vendor/font-awesome tests/vendor/axe-core \
        -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
} >"$STATIC_VENDOR/VERSIONS.txt"

echo "vendor.sh: done; review with 'git status static/vendor tests/vendor' and commit."
