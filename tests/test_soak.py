"""The bounded soak: the whole app under load and faults for under a minute, invariants checked."""

import subprocess
import sys


def test_bounded_soak_keeps_every_invariant():
    result = subprocess.run(
        [sys.executable, "-m", "soak", "--seconds", "40", "--orders-per-second", "2", "--kill-every", "12", "--settle-seconds", "150"],
        capture_output=True, text=True, timeout=420,
    )
    print(result.stdout[-6000:])
    assert "0 failed" in result.stdout, result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0
