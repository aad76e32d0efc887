# SPDX-License-Identifier: LGPL-2.1-only
# bash completion for smcall, vhdtool and csm-gc (installed by make install
# into $(PREFIX)/share/bash-completion/completions, one link per tool).
# The command lists come from the tools themselves ("smcall help",
# "vhdtool help"), so they cannot fall behind.

_csm_smcall()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local i npos=0
	case $prev in
	--sr|--vdi|--new-uuid|--location|--vdi-type|--dconf|--sm-config|--driver-param) return ;;
	--output) COMPREPLY=($(compgen -W "json human" -- "$cur")); return ;;
	--request-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--from-log) return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "--sr --vdi --new-uuid --location --vdi-type --dconf --sm-config
			--driver-param --slave --python --print-request --raw --verbatim --verbose --output=json
			--request-file --from-log --help --version" -- "$cur"))
		return
	fi
	local replay=0
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--request-file|--from-log) replay=1; ((i++)) ;;
		--sr|--vdi|--new-uuid|--location|--vdi-type|--dconf|--sm-config|--driver-param|--output) ((i++)) ;;
		-*) ;;
		*) ((npos++)) ;;
		esac
	done
	# A replay takes the driver only: no dconf, command or arguments to offer.
	if [[ $replay -eq 1 ]]; then
		[[ $npos -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))
		return
	fi
	if [[ $npos -eq 2 || ( $npos -eq 1 && ${COMP_WORDS[1]} == help ) ]]; then
		COMPREPLY=($(compgen -W "$(smcall help 2>/dev/null | sed -n 's/^  \([a-z_]*\).*/\1/p' | grep _)" -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}

_csm_vhdtool()
{
	local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}
	if [[ $COMP_CWORD -eq 1 ]]; then
		COMPREPLY=($(compgen -W "$(vhdtool help 2>/dev/null | sed -n 's/^  \([a-z-]*\) .*/\1/p') help --help --version" -- "$cur"))
	elif [[ $cmd == help && $COMP_CWORD -eq 2 ]]; then
		COMPREPLY=($(compgen -W "$(vhdtool help 2>/dev/null | sed -n 's/^  \([a-z-]*\) .*/\1/p')" -- "$cur"))
	elif [[ $cur == --* ]]; then
		COMPREPLY=($(compgen -W "$(vhdtool help "$cmd" 2>/dev/null | sed -n '1s/[^-]*\(--[a-z=-]*\)/\1 /gp' | grep -o -- '--[a-z=-]*') --help" -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}

_csm_gc()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	--dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--output) COMPREPLY=($(compgen -W "json human" -- "$cur")); return ;;
	--sr|--nfs|--nfs-version|--nfs-timeout|--nfs-ports|--lvm|--leaf-max) return ;;
	esac
	COMPREPLY=($(compgen -W "--sr --dir --nfs --nfs-version --nfs-timeout --nfs-ports --lvm --thin
		--background --quiet --leaf-max --status --output=json --abort --help --version" -- "$cur"))
}

complete -F _csm_smcall smcall
complete -F _csm_vhdtool vhdtool
complete -F _csm_gc csm-gc
