"""The simulator's key and certificate: made on first use, once, whatever the number of workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from signing.bankid.simulator.evidence import KEY_FILE, load_keys

WORKER = """
import sys
from pathlib import Path
from signing.bankid.simulator.evidence import load_keys
from cryptography.hazmat.primitives import hashes
keys = load_keys(Path(sys.argv[1]))
print(keys.cert.fingerprint(hashes.SHA256()).hex())
"""


def test_nothing_is_created_at_import(tmp_path: Path) -> None:
    code = "import signing.bankid.simulator.api, signing.bankid.simulator.evidence; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    assert result.stdout.strip() == "ok"
    assert list(tmp_path.iterdir()) == []


def test_concurrent_workers_agree_on_one_key(tmp_path: Path) -> None:
    folder = tmp_path / "instance" / "bankid-sim"
    root = str(Path(__file__).resolve().parents[3])
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(folder)], stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": root}
        )
        for _ in range(4)
    ]
    prints = {w.communicate(timeout=60)[0].strip() for w in workers}
    assert all(w.returncode == 0 for w in workers)
    assert len(prints) == 1
    assert [p.name for p in folder.iterdir()] == [KEY_FILE]  # no temporary files left behind
    assert (folder / KEY_FILE).stat().st_mode & 0o077 == 0
    # And this process reads the same one.
    assert load_keys(folder).cert.fingerprint(hashes.SHA256()).hex() in prints
    assert isinstance(load_keys(folder).cert, x509.Certificate)
