_vrrpd() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="vrrpd"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        vrrpd)
            opts="-i -v -p -d -s -a -n -U -D -z -x -M -I -O -f -h -V --interface --vrid --priority --interval --no-preempt --preempt-delay --startup-delay --auth --no-vmac --master-script --backup-script --fault-script --priority-down --priority-up --monitor --group --group-timeout --link-poll --link-check --quiet-backup --magic-source --magic-gateway --vrrp-version --accept --no-accept --garp-count --garp-interval --garp-refresh --script-timeout --track-check --track-interface --track-file --track-process --foreground --cleanup --debug --realtime --pid-file --v3-checksum --no-handover --no-align --no-router-adverts --ra-interval --ra-lifetime --protocol --advskew --deadratio --password --password-file --preempt --neutral --shutdown --ignoreifstate --nomcast --xparam --unicast-peer --unicast-src --unicast-min-ttl --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --interface)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -i)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vrid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -v)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --priority)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -p)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -d)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --preempt-delay)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --startup-delay)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --auth)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --master-script)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -U)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --backup-script)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -D)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault-script)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --priority-down)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -z)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --priority-up)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -x)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --monitor)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -M)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --group)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --group-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link-poll)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link-check)
                    COMPREPLY=($(compgen -W "auto netlink ethtool mii" -- "${cur}"))
                    return 0
                    ;;
                --quiet-backup)
                    COMPREPLY=($(compgen -W "auto off" -- "${cur}"))
                    return 0
                    ;;
                --magic-source)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -I)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --magic-gateway)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -O)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vrrp-version)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garp-count)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garp-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garp-refresh)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --script-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --track-check)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --track-interface)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --track-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --track-process)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --realtime)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pid-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --v3-checksum)
                    COMPREPLY=($(compgen -W "pseudo v2" -- "${cur}"))
                    return 0
                    ;;
                --ra-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --ra-lifetime)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --protocol)
                    COMPREPLY=($(compgen -W "vrrp carp" -- "${cur}"))
                    return 0
                    ;;
                --advskew)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --deadratio)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --password)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --password-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --xparam)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unicast-peer)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unicast-src)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unicast-min-ttl)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -f)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _vrrpd -o nosort -o bashdefault -o default vrrpd
else
    complete -F _vrrpd -o bashdefault -o default vrrpd
fi
