"""Scheduled work: backups of colocated servers and of switch configurations, the agent's timers."""
