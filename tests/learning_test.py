#!/usr/bin/env python3
"""`spanscope-cli train --steps 300` with the defaults on the bundled corpus must reach a
validation bpc below 2.6 (whole validation split), and the learned spans must have moved away
from their initial value (0). Prints TAP."""
import json
import os
import subprocess
import sys

# one thread per core unless the test run names a count
threads = os.environ.get("SPANSCOPE_TEST_THREADS")
p = subprocess.run([sys.argv[1], "train", "--steps", "300", "--eval-every", "300",
                    "--eval-tokens", "0", "--report-every", "100", "--json"]
                   + (["--threads", threads] if threads else []),
                   capture_output=True, text=True, timeout=1100)
lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
last = lines[-1] if lines else {}
spans = [s for layer in last.get("spans", []) for s in layer]
checks = [
    ("train exits cleanly", p.returncode == 0, p.stderr),
    ("validation bpc below 2.6 after 300 steps", last.get("val_bpc", 99) < 2.6, str(last.get("val_bpc"))),
    ("spans moved from their initial 0", max(spans, default=0) > 5 and len(set(spans)) > 1, str(spans)),
]
for i, (name, ok, detail) in enumerate(checks, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    print(f"# {detail}")
print(f"1..{len(checks)}")
sys.exit(0 if all(c[1] for c in checks) else 1)
