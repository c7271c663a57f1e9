"""One agent process: its wiring (app), `dcagent serve`, timers, the cluster, scheduled jobs and the NetBox tracker."""
