// Package monitor is the daemon of `lvsctl monitor`: it turns a
// keepalived.conf (or the one-service flags mode) into health checks,
// runs them with check.Scheduler, decides each virtual service's real
// servers with check.Decide, and applies the difference to IPVS through
// lvs/reconcile. It replaces both the classic bash loop (curl, ipvsadm -d,
// ipvsadm -a, a sorry server, "... is gone." in a log) and keepalived's
// checkers.
//
// The flow: FromConfig maps the typed configuration onto Blocks (one per
// virtual_server; a virtual_server_group is one block with several IPVS
// services sharing the checks). Monitor.Start lists the kernel's table
// once and adopts it (check.Adopt): a real server the kernel holds with
// its weight starts up and is neither removed nor re-added, so a restart
// never flaps a server; one it lacks starts down and comes in after
// passing a check; a missing service is created. Every batch of check
// transitions leads to one decision over all services, and to one listing
// of the managed services and one batch of operations (IPVS_CMD_NEW_DEST,
// IPVS_CMD_SET_DEST, IPVS_CMD_DEL_DEST, ...).
//
// The monitor touches only what its configuration names: the services of
// its blocks, and in them only the configured real servers and sorry
// server (plus those a reload dropped, which it removes). Anything else in
// the table, including real servers added by hand to a monitored service,
// is left alone; reconcile.Plan's Prune is applied to that filtered view
// only. Stopping leaves the table as it is; Cleanup removes the services
// the monitor created and the destinations it added.
//
// Reload (SIGHUP in Run) applies only the difference: a check keeps its
// state when its ID (block, real server, position, kind) is kept, so an
// unchanged real server stays, a changed weight is edited in place
// (IPVS_CMD_SET_DEST), and only dropped servers and services are removed.
//
// Events go to a log/slog logger (decisions, every kernel operation as the
// ipvsadm command line that performs it) and, for real servers leaving and
// returning, as the classic lines to a LogFile that Run reopens at SIGUSR1.
// notify_up, notify_down, quorum_up and quorum_down run without a shell.
// Status and ServeStatus give `lvsctl monitor status` its data over a unix
// socket; Metrics exports check results, latencies, state changes and the
// kernel's IPVS counters for Prometheus.
//
// A dry run (Options.DryRun) reads the kernel once and plans against an
// in-memory copy, logging what it would do and changing nothing.
//
// What the package touches: the IPVS table through the Kernel interface
// (generic netlink via lvs/ipvs in production), the sockets and processes
// of the checkers, the notify commands, the classic log file, the status
// socket and the metrics listener.
package monitor
