"""Intake: how requests reach the engine — NetBox webhooks, the reconciler, the CLI."""
