#!/bin/sh
# `omni assistant list|export|import` on the server's database (like `omni user`): a bundle
# imports as a private assistant of the first admin (or --owner), exports again with the same
# manifest and parts, and carries to a second database unchanged; every hostile bundle of the
# fuzz corpus (zip-slip, absolute path, symlink, executable, bad hash, zip bomb, newer
# schema, unlisted entries, truncated, not a zip) is refused with one clear line and exit 1,
# and nothing is stored.
OMNI=${OMNI_BIN:-build/omni}
P=0; F=0
ok()  { P=$((P+1)); echo "ok   $1"; }
bad() { F=$((F+1)); echo "FAIL $1"; [ -f "$T/err" ] && sed 's/^/     /' "$T/err" | head -10; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
C=tests/fuzz/corpus/bundle

echo "expect: at least 14 tests run"
[ -x "$OMNI" ] || { echo "FAIL missing $OMNI"; echo "0 passed, 1 failed"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM
DB="sqlite:$T/a.db"; DB2="sqlite:$T/b.db"
export OMNI_TEST_FAST_PWHASH=1

"$OMNI" assistant import "$C/good" --db "$DB" >"$T/out" 2>"$T/err"; rc=$?
check "import with no admin to own it fails clearly" '[ $rc -eq 1 ] && grep -q "owner" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ]'
echo "admin-pass-1" | "$OMNI" user add root@example.com --db "$DB" >/dev/null 2>&1
echo "bob-pass-12" | "$OMNI" user add bob@example.com --db "$DB" >/dev/null 2>&1
"$OMNI" assistant import "$C/good" --db "$DB" >"$T/out" 2>"$T/err"; rc=$?
id=$(cat "$T/out")
check "import prints the new id; the first admin owns it" '[ $rc -eq 0 ] && echo "$id" | grep -qE "^asst_[A-Za-z0-9_-]{22}$" && grep -q "root@example.com" "$T/err"'
"$OMNI" assistant list --db "$DB" >"$T/list" 2>"$T/err"
check "list shows it private at version 1, with its Korean name" 'grep -q "^$id	private	v1	root@example.com	고객 지원$" "$T/list"'
"$OMNI" assistant import "$C/good" --owner bob@example.com --db "$DB" >/dev/null 2>"$T/err"
check "--owner picks the owner" '"$OMNI" assistant list --db "$DB" | grep -q "	bob@example.com	고객 지원$"'
"$OMNI" assistant export "$id" -o "$T/x.omni-assistant" --db "$DB" >/dev/null 2>"$T/err"; rc=$?
check "export writes a zip" '[ $rc -eq 0 ] && [ "$(head -c 2 "$T/x.omni-assistant")" = PK ]'
# the exported manifest carries the same assistant and parts as the imported one
man() { node -e '
  const zip = require("fs").readFileSync(process.argv[1]);
  // find manifest.json in the central directory and inflate it
  const zlib = require("zlib"); let o = zip.length - 22;
  while (zip.readUInt32LE(o) !== 0x06054b50) o--;
  let p = zip.readUInt32LE(o + 16), n = zip.readUInt16LE(o + 10);
  for (let i = 0; i < n; i++) {
    const nl = zip.readUInt16LE(p + 28), xl = zip.readUInt16LE(p + 30), cl = zip.readUInt16LE(p + 32);
    const name = zip.subarray(p + 46, p + 46 + nl).toString(), lo = zip.readUInt32LE(p + 42);
    const method = zip.readUInt16LE(p + 10), csize = zip.readUInt32LE(p + 20);
    if (name === "manifest.json") {
      const ds = lo + 30 + zip.readUInt16LE(lo + 26) + zip.readUInt16LE(lo + 28);
      const raw = zip.subarray(ds, ds + csize), m = JSON.parse(method ? zlib.inflateRawSync(raw) : raw);
      const a = m.assistant, keep = {};
      for (const k of ["name", "instructions", "starters", "sampling", "category"]) keep[k] = a[k];
      console.log(JSON.stringify([m.schema_version, keep, m.knowledge.map(k => [k.name, k.size, k.sha256]), m.avatar && m.avatar.sha256]));
    }
    p += 46 + nl + xl + cl;
  }' "$1"; }
man "$C/good" >"$T/m1"; man "$T/x.omni-assistant" >"$T/m2"
check "the export's manifest has the same assistant, knowledge file and avatar hashes" '[ -s "$T/m1" ] && cmp -s "$T/m1" "$T/m2"'
echo "zed-pass-123" | "$OMNI" user add zed@example.com --db "$DB2" >/dev/null 2>&1
"$OMNI" assistant import "$T/x.omni-assistant" --db "$DB2" >"$T/out2" 2>"$T/err"; rc=$?
id2=$(cat "$T/out2")
"$OMNI" assistant export "$id2" -o "$T/y.omni-assistant" --db "$DB2" >/dev/null 2>&1
man "$T/y.omni-assistant" >"$T/m3"
check "carried to a second database unchanged" '[ $rc -eq 0 ] && [ "$id2" != "$id" ] && cmp -s "$T/m1" "$T/m3"'
# the whole configuration (normalised) is the same after the second trip
full() { python3 -c 'import json,sys,zipfile; m=json.loads(zipfile.ZipFile(sys.argv[1]).read("manifest.json")); print(json.dumps([m["assistant"], m["knowledge"], m["avatar"]], sort_keys=True))' "$1"; }
check "the full configuration survives export, import, export" '[ "$(full "$T/x.omni-assistant")" = "$(full "$T/y.omni-assistant")" ]'
before=$("$OMNI" assistant list --db "$DB" | wc -l)
fails=""
for b in zip-slip absolute symlink exec-bit elf bad-hash ratio-bomb newer-schema unlisted truncated not-zip manifest-not-json folder bad-config empty avatar-not-an-image; do
  "$OMNI" assistant import "$C/$b" --db "$DB" >"$T/out" 2>"$T/err"; rc=$?
  if [ $rc -ne 1 ] || [ -s "$T/out" ] || [ "$(wc -l <"$T/err")" -ne 1 ] || ! grep -q "^omni: assistant: $C/$b: " "$T/err"; then fails="$fails $b"; fi
done
check "hostile bundles: exit 1, one line naming the file and the problem${fails:+ (not:$fails)}" '[ -z "$fails" ]'
"$OMNI" assistant import "$C/zip-slip" --db "$DB" 2>"$T/err" >/dev/null
check "zip-slip names the unsafe path" 'grep -q "unsafe path" "$T/err"'
"$OMNI" assistant import "$C/ratio-bomb" --db "$DB" 2>"$T/err" >/dev/null
check "a bomb says so" 'grep -q "zip bomb" "$T/err"'
check "nothing stored by the refused imports" '[ "$("$OMNI" assistant list --db "$DB" | wc -l)" -eq "$before" ]'
"$OMNI" assistant export asst_nope -o "$T/z" --db "$DB" >/dev/null 2>"$T/err"; rc=$?
check "export of an unknown id: exit 1, no file" '[ $rc -eq 1 ] && [ ! -e "$T/z" ] && grep -q "no assistant" "$T/err"'
"$OMNI" assistant frobnicate --db "$DB" >/dev/null 2>"$T/err"; rc=$?
check "an unknown subcommand is an error" '[ $rc -eq 1 ] && grep -q "unknown command" "$T/err"'
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
