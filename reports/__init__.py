"""Sealed PDF/A-3b records: plain data → HTML → PDF → sealed PDF → verification.

Everything in this package except ``services.py`` and ``api.py`` is pure: no
database, no Flask. See ``context.py`` for the input, ``render.py``,
``seal.py`` and ``verify.py`` for the three steps, ``pki.py`` for the embedded
local certificate authority.
"""
