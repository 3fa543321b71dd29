complete -c atropos -l who-has -d 'The instance that holds a virtual address' -r
complete -c atropos -l priority -d 'Set the priority (1-254)' -r
complete -c atropos -l metrics-listen -d 'Serve the same metrics over HTTP on ADDR:PORT at /metrics, reading every instance at each scrape (a long-running exporter, e.g. 127.0.0.1:9650)' -r
complete -c atropos -s i -l interface -d 'Only the instances on this interface' -r
complete -c atropos -s v -l vrid -d 'Only the instances with this VRID' -r
complete -c atropos -l run-dir -d 'Run directory (default /run/vrrpd, or $VRRPD_RUN_DIR)' -r -F
complete -c atropos -s s -l state -d 'Show every instance: interface, VRID, state, priority, VIPs, master, since when (default)'
complete -c atropos -l dump -d 'Full dump of the instances: timers and counters'
complete -c atropos -l count -d 'Count the instances by state'
complete -c atropos -s b -l backup -d 'Force backup; the instance stays backup until --resume'
complete -c atropos -l resume -d 'End a forced backup'
complete -c atropos -s r -l reduce -d 'Lower the priority by 10 (or to -z), as SIGTTIN'
complete -c atropos -l increase -d 'Raise the priority by 10 (or to -x), as SIGTTOU'
complete -c atropos -s f -l follow -d 'Follow the instances: one line per event (start, transition, priority, tracker, host group, exit) with a per-instance sequence number, until interrupted; picks up new and restarted instances (see EVENTS)'
complete -c atropos -l metrics -d 'Every instance in the Prometheus text format, for node_exporter\'s textfile collector (see man atropos, METRICS); a dead daemon\'s instance is vrrpd_up 0, never master'
complete -c atropos -l json -d 'Machine-readable output (JSON)'
complete -c atropos -s q -l quiet -d 'No output; the exit status tells the state (with --state)'
complete -c atropos -s V -l version -d 'Print the version'
complete -c atropos -s h -l help -d 'Print help'
