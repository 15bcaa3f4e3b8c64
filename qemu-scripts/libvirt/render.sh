#!/bin/bash
# render.sh VAR=value... < TEMPLATE > XML: replace each @VAR@ of a domain
# template (colo-vm.xml.in); a value is XML-escaped unless its name ends
# in _ARGS (those are qemu:arg elements already). An @VAR@ left over is an
# error that names it.
#   render.sh --args ARG...   prints qemu:arg elements for ARGs (escaped)
set -euo pipefail
esc() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e "s/'/\&apos;/g" <<<"$1"; }
if [[ ${1:-} == --args ]]; then
	shift
	for a in "$@"; do printf "\n    <qemu:arg value='%s'/>" "$(esc "$a")"; done
	exit 0
fi
xml=$(cat)
for kv in "$@"; do
	k=${kv%%=*} v=${kv#*=}
	[[ $k =~ ^[A-Z_]+$ && $kv == *=* ]] || { echo "render.sh: bad argument \"$kv\" (VAR=value)" >&2; exit 2; }
	[[ $k == *_ARGS ]] || v=$(esc "$v")
	xml=${xml//@$k@/$v}
done
if left=$(grep -o '@[A-Z_]*@' <<<"$xml" | sort -u | tr '\n' ' ') && [[ -n $left ]]; then
	echo "render.sh: not given: $left" >&2
	exit 2
fi
printf '%s\n' "$xml"
