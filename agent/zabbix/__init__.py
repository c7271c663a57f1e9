"""What dcagent keeps in Zabbix: the host sync, heartbeat, capacity telemetry and dashboards."""
