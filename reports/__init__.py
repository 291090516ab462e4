"""Sealed PDF/A-3b records: plain data → HTML → PDF → sealed PDF → verification.

The steps are pure (no database, no Flask): ``context.py`` is their input, ``render.py``,
``seal.py`` and ``verify.py`` the three steps, ``pki.py`` the embedded local certificate
authority. Around them: ``record_data.py`` gathers a record's plain data from the database,
``keys.py`` loads the seal once per app, ``services.py`` queues records and produces them
after the commit, ``anchors.py`` pins the audit chain down with checkpoints and sealed
records; ``api.py``, ``audit_api.py``, ``verification.py``, ``download.py`` and ``console.py``
are the HTTP side, ``cli.py`` the commands.
"""
