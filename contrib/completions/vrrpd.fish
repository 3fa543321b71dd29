complete -c vrrpd -s i -l interface -d 'Interface to run on (required)' -r
complete -c vrrpd -s v -l vrid -d 'Virtual router identifier, 1-255 (required)' -r
complete -c vrrpd -s p -l priority -d 'Priority, 1-255; 255 makes this router the address owner' -r
complete -c vrrpd -s d -l interval -d 'Advertisement interval: a plain number is seconds (`1`, `0.5`), or a duration such as `100ms`. Below 1 s only with VRRPv3 (multiples of 10 ms, up to 40.95 s); VRRPv2 takes whole seconds 1-255' -r
complete -c vrrpd -l preempt-delay -d 'Preemption delay (keepalived\'s preempt_delay): for DURATION after joining the election (start-up, the end of --startup-delay, a fault clearing) do not preempt a lower-priority master; take over at once if the master falls silent or sends priority 0. At most 1000s; not with -p 255 (the address owner always preempts) or --no-preempt' -r
complete -c vrrpd -l startup-delay -d 'Start-up delay (keepalived\'s vrrp_startup_delay): if at start the interface is down or lacks its primary address (IPv4 address, IPv6 link-local), stay in INIT for DURATION while the link settles, then join the election (or enter FAULT if it is still not ready). An interface up with its address starts at once. At most 3600s' -r
complete -c vrrpd -s a -l auth -d 'VRRPv2 authentication: `none` or `pw/KEY` (simple password, 1-8 bytes)' -r
complete -c vrrpd -s U -l master-script -d 'Hook run on becoming master' -r -F
complete -c vrrpd -s D -l backup-script -d 'Hook run on becoming backup (and on fault unless --fault-script is given)' -r -F
complete -c vrrpd -l fault-script -d 'Hook run on entering the fault state (default: the -D hook)' -r -F
complete -c vrrpd -s z -l priority-down -d 'Priority set by SIGTTIN (default: lower by 10)' -r
complete -c vrrpd -s x -l priority-up -d 'Priority set by SIGTTOU (default: raise by 10)' -r
complete -c vrrpd -s M -l monitor -d 'Member of a host group of N vrrpd processes (1-255): when one turns backup, faults or dies, all turn backup' -r
complete -c vrrpd -l group -d 'Host group name (default: one group per network namespace)' -r
complete -c vrrpd -l group-timeout -d 'A group member silent for this long counts as failed (default: 3 times the advert interval)' -r
complete -c vrrpd -l link-poll -d 'Poll the link with ethtool/MII about this often besides netlink events, on wake-ups that happen anyway (adverts sent or received); `0` disables polling' -r
complete -c vrrpd -l link-check -d 'How to check the link: `auto` (netlink events plus whichever of ethtool/MII answers), `netlink`, `ethtool` or `mii` (refused at start when the driver lacks it)' -r -f -a "auto\t'Netlink events plus ethtool or MII polling when the driver answers'
netlink\t'Netlink link events only'
ethtool\t'ETHTOOL_GLINK polling (plus netlink events)'
mii\t'MII BMSR polling (plus netlink events)'"
complete -c vrrpd -l quiet-backup -d 'Quiet Backup: `auto` lets the kernel drop adverts that repeat the last one (an eBPF socket filter notes their arrival times), so a Backup wakes once per Master_Down_Interval rather than once per advert; used when the kernel allows it (CAP_BPF), else the Backup reads every advert as with `off`. VRRP only (CARP always reads every advert)' -r -f -a "auto\t'The eBPF filter when the kernel allows it'
off\t'Every advert wakes the Backup'"
complete -c vrrpd -s I -l magic-source -d 'Magic packet: the VIP used as sender (with -O)' -r
complete -c vrrpd -s O -l magic-gateway -d 'Magic packet: the gateway whose tables are refreshed on takeover (with -I)' -r
complete -c vrrpd -l vrrp-version -d 'VRRP version' -r
complete -c vrrpd -l garp-count -d 'Gratuitous ARPs / unsolicited NAs sent per VIP on becoming master' -r
complete -c vrrpd -l garp-interval -d 'Spacing of the gratuitous ARPs / unsolicited NAs' -r
complete -c vrrpd -l garp-refresh -d 'While master, repeat one round of gratuitous ARPs / unsolicited NAs (one per VIP) every DURATION, for switches with short MAC tables (keepalived\'s garp_master_refresh). Off by default' -r
complete -c vrrpd -l script-timeout -d 'Hooks still running after this long are killed' -r
complete -c vrrpd -l track-check -d 'Health check, repeatable (CARP: the weight moves the advskew the other way, see --advskew): a command run without a shell every INTERVAL (default 1s), killed with its process group at TIMEOUT (default: the interval); exit 0 passes. RISE passes in a row bring it up, FALL failures take it down (default 1 each). WEIGHT (-253..253, default 0): 0 means down -> Fault, a negative one is subtracted while down, a positive one added while up; `reverse` swaps up and down and negates the weight, as in keepalived. `cmd=` comes last and takes the rest: `name=web,interval=2s,timeout=1s,fall=2,rise=2,weight=-20,cmd=/usr/bin/curl -fs http://[::1]/`' -r
complete -c vrrpd -l track-interface -d 'Track another interface\'s link (up = IFF_UP and IFF_RUNNING), repeatable; weight as for --track-check (default 0: down -> Fault)' -r
complete -c vrrpd -l track-file -d 'Track a file holding an integer (inotify), repeatable: the value times WEIGHT (default 1) is added (-254 or less: Fault); with weight 0 a non-zero value is Fault. A missing file or a non-number is a failure (nothing added; Fault with weight 0)' -r
complete -c vrrpd -l track-process -d 'Track processes by name, repeatable: up while at least QUORUM (default 1) processes run whose comm is NAME (at most 15 characters), or whose argv[0] is NAME when it holds a \'/\'. `args=` (last, takes the rest, split on spaces) also requires these arguments: exactly these (match=exact, the default; `args=` alone: no arguments), these first (match=partial), or these first with the last one a prefix (match=initial), as keepalived\'s param_match. Weight as for --track-check (default 0: down -> Fault)' -r
complete -c vrrpd -l realtime -d 'Run the event loop at real-time priority PRIO (SCHED_RR, 1-99) once started, so that a busy machine cannot delay adverts and timers (short intervals, many instances; as keepalived\'s vrrp_rt_priority). Hooks and checks still run at normal priority (SCHED_RESET_ON_FORK). A safety net, RLIMIT_RTTIME soft 1 s / hard 2 s of CPU without blocking: at 1 s vrrpd drops back to normal priority and logs it. Needs CAP_SYS_NICE or RLIMIT_RTPRIO of at least PRIO (under systemd: RestrictRealtime=no and LimitRTPRIO=PRIO); without, exit 1 at start. Off by default' -r
complete -c vrrpd -l pid-file -d 'A second pid file, beside the instance\'s own /run/vrrpd/ns<netns>/vrrpd_<IF>_<VRID>.pid (always locked: one virtual router runs once, whatever pid files are given)' -r -F
complete -c vrrpd -l v3-checksum -d 'VRRPv3-over-IPv4 checksum sent: `pseudo` (with IPv4 pseudo-header, as keepalived and FRR send by default) or `v2` (message only, RFC 9568 section 5.2.8). Both are accepted on receive' -r -f -a "pseudo\t'IPv4 pseudo-header included (keepalived/FRR default)'
v2\t'Message only, RFC 9568 section 5.2.8'"
complete -c vrrpd -l ra-interval -d 'IPv6: MaxRtrAdvInterval, 4s-1800s (RFC 4861 section 6.2.1): Router Advertisements go at random intervals between a third of it and it, the first three at most 16s apart (default 200s)' -r
complete -c vrrpd -l ra-lifetime -d 'IPv6: the Router Lifetime advertised, from the --ra-interval to 9000s, whole seconds (default: 3 x the --ra-interval): how long hosts keep the route if every router is gone' -r
complete -c vrrpd -l protocol -d 'Advertisement protocol: `vrrp` (default) or `carp` (CARP version 2 as ucarp speaks it; `-v` is the vhid, `-d` the advbase in whole seconds, one IPv4 address)' -r -f -a "vrrp\t'VRRP (RFC 3768, RFC 9568)'
carp\t'CARP version 2, as ucarp 1.5.2'"
complete -c vrrpd -l advskew -d 'CARP: advertisement skew, 0-255 (1/256 s; lower is preferred; ucarp --advskew). Tracker weights move it the other way: advskew - weights, capped to 0-254' -r
complete -c vrrpd -l deadratio -d 'CARP: master-down multiplier, 1-255 (default 3; ucarp --deadratio)' -r
complete -c vrrpd -l password -d 'CARP: the password, 1-19 bytes (ucarp --pass)' -r
complete -c vrrpd -l password-file -d 'CARP: read the password from the first line of FILE (ucarp --passfile)' -r -F
complete -c vrrpd -l xparam -d 'CARP: extra last argument for the hooks (ucarp --xparam)' -r
complete -c vrrpd -l unicast-peer -d 'Unicast peer, repeatable: adverts go to each peer\'s address (TTL 255) instead of the multicast group, no group is joined, and only adverts from a listed peer sent to our source address are accepted (others are counted as not_peer / bad_dst). For links without multicast: clouds, tunnels. Same family as the VIPs; list every other router' -r
complete -c vrrpd -l unicast-src -d 'Unicast: the source address of our adverts, the one the peers list and the only destination accepted (default: the interface\'s primary IPv4 address; IPv6: the link-local address if every peer is link-local, else the interface\'s first global address that is not a VIP; keepalived always takes the link-local one, which with global peers ends with two masters). Must be on the interface (until it is, the instance is in Fault)' -r
complete -c vrrpd -l unicast-min-ttl -d 'Unicast: lowest TTL / hop limit accepted from a peer, 1-255 (default 255, the RFC 9568 §5.1.1.3 rule kept for unicast: only a sender on the link can arrive with 255, so a spoofed peer address from beyond a router is refused; keepalived checks neither TTL nor source). Lower it only for peers behind routers (254: one router away), or for keepalived IPv6 peers without `unicast_ttl 255` (they send the kernel\'s default hop limit, 64)' -r
complete -c vrrpd -s f -d 'Advanced Vrrpd\'s run directory flag: accepted and ignored' -r -F
complete -c vrrpd -s s -l no-preempt -d 'Do not preempt a lower-priority master (preemption is on by default)'
complete -c vrrpd -s n -l no-vmac -d 'Do not use the virtual MAC: the VIPs go on the interface itself'
complete -c vrrpd -l accept -d 'Accept_Mode on, the default (as keepalived without vrrp_strict and FRR): a non-owner master accepts traffic addressed to the VIPs (RFC 9568 section 6.1)'
complete -c vrrpd -l no-accept -d 'Accept_Mode off (RFC 9568\'s default; RFC 3768\'s rule for VRRPv2): a non-owner master drops traffic addressed to the VIPs, with an nftables table of its own (vrrpd_IF_VRID_v4|v6); ARP, NS/NA and VRRP pass, forwarded traffic is untouched, an address owner always accepts. Needs nft and nf_tables: without them vrrpd does not start'
complete -c vrrpd -l foreground -d 'Stay in the foreground and log to stderr (default: detach and log to syslog)'
complete -c vrrpd -l cleanup -d 'Do not run: clean up after a dead instance of this configuration (the same arguments): if its pid file is not locked by a running vrrpd, remove the VIPs and virtual MAC link it left, restore the parent\'s ARP sysctls, delete its --no-accept packet filter table, remove its pid file and control socket, free its -M host-group slot (the group\'s segment too when no live member is left), and run the backup hook (-D). Exit 1, touching nothing, while the instance runs. For systemd\'s ExecStopPost= after a kill -9, a watchdog kill or a crash'
complete -c vrrpd -l debug -d 'Log debug messages too (discarded packets, rate-limited)'
complete -c vrrpd -l no-handover -d 'Release the VIPs as soon as the priority-0 advert is sent on a planned stop, instead of keeping them until the new master is heard (lossless handover, the default)'
complete -c vrrpd -l no-align -d 'Time each advert one interval after the last, from the moment this instance became master (RFC 9568\'s Adver_Timer to the letter), instead of on the host-wide grid of whole intervals that every aligned vrrpd on the host shares (the default: one burst of adverts per interval, about 2.5 x less CPU with 100 instances; never under 100ms; see ADVERT TIMING in vrrpd(8))'
complete -c vrrpd -l no-router-adverts -d 'IPv6: send no Router Advertisements for the virtual router (sites where radvd, FRR or another RA source runs). By default an IPv6 master sends them from the link-local VIP and the virtual MAC, answers Router Solicitations, and sends one with router lifetime 0 when it gives the addresses up with no successor known (RFC 9568 section 8.2)'
complete -c vrrpd -l preempt -d 'CARP: a backup takes over from a slower master (ucarp --preempt; off by default in CARP)'
complete -c vrrpd -l neutral -d 'CARP: no backup hook at start (ucarp --neutral)'
complete -c vrrpd -l shutdown -d 'CARP: run the backup hook when giving the address up at exit (ucarp --shutdown)'
complete -c vrrpd -l ignoreifstate -d 'CARP: ignore the link state, no fault on carrier loss (ucarp --ignoreifstate)'
complete -c vrrpd -l nomcast -d 'CARP: adverts in Ethernet broadcast frames, still to 224.0.0.18 (ucarp --nomcast)'
complete -c vrrpd -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vrrpd -s V -l version -d 'Print version'
