"""Supervision: overdue audits, indicators against the plan's targets, and periodic reports.

Imports engine (and referrals); never fastapi, prefect or apprise. Every query is set-based.
"""
