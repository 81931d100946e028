#!/usr/bin/env python3
"""Issue 13: `train --checkpoint C --save-every 1` killed with SIGKILL at random moments, over and
over. After every kill C must load (spanscope-cli's own loader, checksum included) and hold either
the last state the run reported saved or the one after it (a save that finished before its report
was printed), never anything else; the temporary file a kill leaves behind in the middle of a save
must be gone after the next run's first save.

Prints TAP. Usage: kill_test.py PATH/TO/spanscope-cli [KILLS]
"""
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time

CLI = sys.argv[1]
KILLS = int(sys.argv[2]) if len(sys.argv) > 2 else 60
rng = random.Random(13)
tmp = tempfile.mkdtemp(prefix="spanscope-kill-")
corpus = os.path.join(tmp, "corpus.txt")
with open(corpus, "w", encoding="utf-8") as f:
    words = ["the ", "spans ", "grow ", "and ", "shrink ", "é ", "→ ", "\n"]
    f.write("".join(rng.choice(words) for _ in range(8000)))
ckpt = os.path.join(tmp, "run.safetensors")
# Caches of 8 × 1024 × 64 per layer make a 4 MB file whose save (and sync) takes as long as a
# step or longer, so many kills land inside a save.
common = ["train", "--corpus", corpus, "--checkpoint", ckpt, "--save-every", "1",
          "--report-every", "1", "--eval-every", "0", "--nlayers", "2", "--hid-sz", "64",
          "--nheads", "2", "--inner-hid-sz", "64", "--attn-span", "1024", "--block-sz", "8",
          "--batch-sz", "8", "--threads", "1"]
args = common + ["--steps", "1000000"]


def saved_step(path):
    """The step in C's metadata (the loader below checks the rest)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n))["__metadata__"]
    return int(meta["step"])


def temporaries():
    return {n for n in os.listdir(tmp) if n.startswith(".run.safetensors.tmp-")}


def loads(path):
    p = subprocess.run([CLI, "generate", "--checkpoint", path, "--prompt", "the ", "--length", "1"],
                       capture_output=True, text=True, timeout=120)
    return p.returncode == 0, p.stderr.strip()


results = []
failures = []
kills_in_save = 0
stale_removed = 0
saves = 0
last_saved = None
stale = set()
for k in range(KILLS):
    out = open(os.path.join(tmp, "out.txt"), "w+")
    # line-buffered, so that every "saved" line is in the file before the kill
    p = subprocess.Popen(["stdbuf", "-oL", CLI, *args], stdout=out, stderr=subprocess.STDOUT)
    # the previous kill's temporary file must be gone once this run has saved once
    if stale:
        deadline = time.time() + 60
        while time.time() < deadline and "saved " not in open(out.name).read():
            time.sleep(0.01)
        left = stale & temporaries()
        if left:
            failures.append(f"kill {k}: {sorted(left)} still there after the next save")
        else:
            stale_removed += len(stale)
    time.sleep(rng.uniform(0.05, 0.6))
    p.send_signal(signal.SIGKILL)
    p.wait()
    out.seek(0)
    printed = [int(m) for m in re.findall(r"^saved \S+ at step (\d+)", out.read(), re.M)]
    out.close()
    if printed:
        last_saved = printed[-1]
    saves += len(printed)
    stale = temporaries()
    kills_in_save += bool(stale)
    if not os.path.exists(ckpt):
        if last_saved is not None:
            failures.append(f"kill {k}: {ckpt} is gone after step {last_saved} was saved")
        continue
    ok, err = loads(ckpt)
    if not ok:
        failures.append(f"kill {k}: {ckpt} does not load: {err}")
        continue
    step = saved_step(ckpt)
    if last_saved is None or step not in (last_saved, last_saved + 1):
        failures.append(f"kill {k}: {ckpt} holds step {step}, the run reported {last_saved}")
    last_saved = step

results.append((not failures, f"{KILLS} SIGKILLs during {saves} saves: the checkpoint always "
                              f"loads and holds the last reported state or the next",
                 "\n".join(failures[:10])))
results.append((kills_in_save > 0, f"{kills_in_save} of {KILLS} kills landed inside a save",
                "no kill interrupted a save: the test proves nothing about temporary files"))
results.append((not any("still there" in f for f in failures),
                f"the {stale_removed} temporary files those kills left were removed by the next save",
                ""))

# A last uninterrupted run cleans up and ends with a loadable file and nothing else.
p = subprocess.run([CLI, *common, "--steps", str((last_saved or 0) + 2)], capture_output=True,
                   text=True, timeout=300)
left = sorted(set(os.listdir(tmp)) - {"corpus.txt", "out.txt", "run.safetensors"})
results.append((p.returncode == 0 and not left and loads(ckpt)[0],
                "an uninterrupted run afterwards saves, loads and leaves no other file",
                f"exit {p.returncode}: {p.stderr.strip()}; left: {left}"))

for i, (ok, name, msg) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if not ok and msg:
        print("# " + msg.replace("\n", "\n# "))
print(f"1..{len(results)}")
for n in os.listdir(tmp):
    os.unlink(os.path.join(tmp, n))
os.rmdir(tmp)
sys.exit(0)
