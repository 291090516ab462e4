"""What the consent domain announces or asks of the domains above it (blinker signals).

Receivers are connected in ``create_app``; consent never imports signing or reports.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: ``exporting.send(session, scope=...)`` (Art. 15): each receiver returns ``{section: value}``
#: for the person's export, read from the tables its domain keeps.
exporting = _signals.signal("person-exporting")
#: ``erasing.send(session, scope=..., now=...)`` (Art. 17): each receiver scrubs its domain's
#: copies of the person, in the erasure's transaction. Mirrors ``exporting``.
erasing = _signals.signal("person-erasing")
#: ``sealed_records.send(session, tenant_id=..., ids=[...], column="consent_id"|"addendum_id")``:
#: each receiver returns the ids among ``ids`` that have a sealed PDF record (the records domain).
sealed_records = _signals.signal("sealed-records")
#: ``records_listed.send(session, tenant_id=..., consent_ids=[...], addendum_ids=[...])``: each
#: receiver returns the PDF records of those consents and addenda, oldest first (the console's pages).
records_listed = _signals.signal("records-listed")
