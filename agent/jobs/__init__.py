"""Scheduled work: backups of colocated servers and of switch configurations (APScheduler, persistent jobs)."""
