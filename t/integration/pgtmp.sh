#!/bin/sh
# tools/pgtmp as root (the cluster is owned by nobody): a DIR under a
# directory nobody cannot search is refused before anything is made, naming
# the topmost such directory (the one to fix), not a deeper one.
. "$top_srcdir/t/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! id nobody >/dev/null 2>&1; then
	echo "# not root: pgtmp's ownership checks are not exercised here (CI runs as root)"
	finish
fi
PGTMP="$top_srcdir/tools/pgtmp"
mkdir -p "$T/a/b/c"
chmod 700 "$T/a" "$T/a/b"
out=$("$PGTMP" start "$T/a/b/c/pg" 2>&1)
check "refused (exit non-zero)" [ $? -ne 0 ]
echo "# $out"
check "names the topmost directory nobody cannot search" \
	sh -c "echo '$out' | grep -q '^pgtmp: $T/a is not searchable by nobody'"
check "nothing was made" [ ! -e "$T/a/b/c/pg" ]
chmod 755 "$T/a"
out=$("$PGTMP" start "$T/a/b/c/pg" 2>&1)
check "then the next one down" sh -c "echo '$out' | grep -q '^pgtmp: $T/a/b is not searchable'"
chmod 755 "$T/a/b"
check "searchable: the cluster starts, parents made as needed" \
	sh -c "'$PGTMP' start '$T/a/b/c/d/pg' >/dev/null 2>&1"
"$PGTMP" stop "$T/a/b/c/d/pg" >/dev/null 2>&1
finish
