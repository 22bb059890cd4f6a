# Where a process's kaos_probe_control lives, for tests that read or poke it
# (sourced, not run).

# control_file_addr FILE PID: run-time address in PID of FILE's
# kaos_probe_control: its .dynsym value (a definition of 16 bytes or more,
# not a reference) -> file offset via the PT_LOAD holding it -> the mapping
# of FILE in /proc/PID/maps that holds that offset. Prints nothing if FILE
# does not define the symbol; says why on stderr and returns 1 if it does
# but no mapping holds it.
control_file_addr() {
	local file=$1 pid=$2 sym off='' type o v m range mo path
	sym=$(readelf --dyn-syms -W "$file" |
		awk '$8 == "kaos_probe_control" && $7 != "UND" && $3 >= 16 { print $2 }')
	[ -n "$sym" ] || return 0
	sym=$((16#$sym))
	while read -r type o v _ _ m _; do
		if [ "$type" = LOAD ] && ((sym >= v && sym < v + m)); then
			off=$((sym - v + o))
			break
		fi
	done < <(readelf -lW "$file")
	[ -n "$off" ] || { echo "no PT_LOAD of $file holds kaos_probe_control" >&2; return 1; }
	while read -r range _ mo _ _ path; do
		[ "$path" = "$file" ] || continue
		local s=$((16#${range%-*})) e=$((16#${range#*-}))
		mo=$((16#$mo))
		if ((off >= mo && off < mo + e - s)); then
			printf '0x%x\n' $((s + off - mo))
			return 0
		fi
	done <"/proc/$pid/maps"
	echo "no mapping of $file in /proc/$pid/maps holds file offset $off" >&2
	return 1
}
