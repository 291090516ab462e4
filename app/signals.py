"""Signals between domains (blinker, as Flask's own), connected only in ``create_app``.

A lower layer announces what happened; the domains above it that care connect a
receiver in the factory. Nothing is connected at import, so what runs is exactly
what the factory wired, and a domain never imports the one above it.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: An audit event was appended, inside the transaction that caused it (sender: the
#: ``AuditEvent``; keyword ``session``). Receivers may only add rows in that session, e.g.
#: the records domain queues a PDF record for ``consent.given``, the webhook outbox a
#: delivery; they run before the commit, so what they add commits or rolls back with it.
audit_appended = _signals.signal("audit-appended")

#: What background work is waiting (``app.jobs.queue_status``; sender: the ``Session``; keywords
#: ``tenant_id`` (None: every tenant) and ``now``). Each domain with a queue of rows answers
#: a list of ``app.jobs.QueueStatus``: records to seal, webhook deliveries to send.
job_queues = _signals.signal("job-queues")

#: Queue every failed piece of background work of a tenant once more (the console's retry;
#: sender: the ``Session``; keywords ``tenant_id`` and ``now``). Each domain answers the ids it
#: queued; the messages go after the commit.
retry_failed_jobs = _signals.signal("retry-failed-jobs")
