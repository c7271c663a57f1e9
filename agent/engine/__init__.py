"""The playbook engine: durable runs, idempotent steps, retries, undo, resume, dry-run plans, SLA clock.

It knows no outside system: steps reach them, and journal writing, locks and clocks arrive as interfaces.
"""
