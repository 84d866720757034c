"""Notifications: recipients, templates (Vietnamese and English) and delivery through apprise.

- ``engine.outbox`` writes the rows (in the transaction that causes them);
- ``notifications.render.render(template, language, context, short=...)`` -> (title, body);
- ``notifications.recipients.resolve(session, kind, ref, smtp_url)`` -> apprise URLs and a language;
- ``notifications.delivery.deliver_due(db, now, batch=..., concurrency=...)`` claims, sends and marks;
  ``delivery_round`` (what ``ketnoi deliver`` runs) adds the daily digests and loops until nothing is due;
- ``notifications.digest.write_digests(db, now)``: one digest a day for agencies that chose it, each agency's in
  its own transaction (``build_digests(session, now)`` in one given session);
- ``notifications.log.delivery_log_for_case`` / ``delivery_log_for_agency``: what was sent, and what failed.

The only room that imports apprise. Nothing here connects to anything at import time.
"""
