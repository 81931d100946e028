#!/usr/bin/python3
"""spanscope and the reference's main.py checkpoints, end to end with torch (TAP).

Usage: refrun_torch.py ORACLE_DIR SPANSCOPE_CLI TEST_REFRUN

1. Fresh fixtures from tools/oracle/reference_run.py, and test-refrun run on them.
2. `import` of a main.py run (both torch formats) gives the bpc of the reference's full
   evaluation (`eval --batch-sz 8 --whole-blocks`).
3. `export-reference` (both formats) → torch.load → the reference's model nesting loads it
   strictly, with the same tensors, the logger as logged (span_avg and span_max too) and the
   oracle's loss; the reference's optimizer and scheduler load its state, and 3 steps of
   main.py's loop from there equal 3 steps of `spanscope-cli train` from the same file, whose
   export logs the iteration trained here with main.py's span statistics.
4. `follow --json` sees 3 versions written one after the other by main.py's torch.save (the
   second slowly, in two pieces with a pause) and prints each once, never a partial one.
Skipped (exit 77) without torch.
"""
import contextlib
import io
import json
import math
import os
import select
import subprocess
import sys
import tempfile
import time

try:
    import torch
except ImportError:
    print("1..0 # SKIP PyTorch not installed")
    sys.exit(77)

oracle_dir, cli, test_exe = sys.argv[1:4]
sys.path.insert(0, oracle_dir)
import reference_run as rr  # noqa: E402
import safetensors_io  # noqa: E402
from model import nll  # noqa: E402

results = []


def check(name, fn):
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            fn()
        results.append((True, name, ""))
    except Exception as e:  # noqa: BLE001 - every failure is a TAP line
        results.append((False, name, f"{type(e).__name__}: {e}"))


def run(*cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stdout[-2000:]} "
                           f"{p.stderr[-2000:]}")
    return p.stdout


def expected(fixtures, name):
    tensors, meta = safetensors_io.read(os.path.join(fixtures, f"ref_{name}.safetensors"))
    return tensors, json.loads(meta["expected"])


def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-30)


def import_run(fixtures, name, pt, out):
    return run(cli, "import", "--checkpoint", pt, "--corpus", os.path.join(fixtures, "corpus"),
               "--output", out, *rr.cli_flags(name))


def test_import_bpc(fixtures, tmp, name, fmt):
    out = os.path.join(tmp, f"imp_{name}_{fmt}.safetensors")
    import_run(fixtures, name, os.path.join(fixtures, f"ref_{name}_{fmt}.pt"), out)
    got = json.loads(run(cli, "eval", "--checkpoint", out, "--corpus",
                         os.path.join(fixtures, "corpus"), "--ref-format", "--batch-sz", "8",
                         "--whole-blocks"))
    want = expected(fixtures, name)[1]["full_eval_bpc"]
    assert abs(got["bpc"] - want) <= 2e-6, (got["bpc"], want)   # eval prints 6 decimals


def oracle_from_pt(fixtures, name, ck):
    _, exp = expected(fixtures, name)
    vocab, _ = rr.read_corpus(os.path.join(fixtures, "corpus"))
    model = rr.new_model(name, len(vocab))
    rr.load_into_oracle(model, ck["model"])
    return model, exp


def test_export(fixtures, tmp, name, legacy):
    corpus = os.path.join(fixtures, "corpus")
    imported = os.path.join(tmp, f"exp_src_{name}.safetensors")
    import_run(fixtures, name, os.path.join(fixtures, f"ref_{name}_zip.pt"), imported)
    pt = os.path.join(tmp, f"exp_{name}_{'legacy' if legacy else 'zip'}.pt")
    run(cli, "export-reference", "--checkpoint", imported, "--output", pt, "--nbatches",
        str(rr.NBATCHES), *(["--legacy"] if legacy else []))
    ck = torch.load(pt)
    orig = torch.load(os.path.join(fixtures, f"ref_{name}_zip.pt"))
    assert list(ck) == ["iter_no", "model", "logger", "optimizer", "scheduler_iter"], list(ck)
    assert ck["iter_no"] == orig["iter_no"] and ck["scheduler_iter"] == orig["scheduler_iter"]
    assert list(ck["model"]) == list(orig["model"]), "state dict keys or their order"
    for k, t in orig["model"].items():
        assert torch.equal(ck["model"][k], t), k
    assert ck["logger"]["step"] == orig["logger"]["step"], ck["logger"]
    for key in ("train_bpc", "val_bpc"):   # the history keeps float32
        assert all(close(a, b, 1e-6) for a, b in zip(ck["logger"][key], orig["logger"][key])), key
    for key in ("span_avg", "span_max"):   # as logged (whole numbers of positions), never NaN
        assert ck["logger"][key] == orig["logger"][key], (key, ck["logger"][key])
    model, exp = oracle_from_pt(fixtures, name, ck)   # strict load into main.py's nesting
    tensors, _ = expected(fixtures, name)
    with torch.no_grad():
        model.eval()
        x, y = tensors["batch.x"].long(), tensors["batch.y"].long()
        loss = nll(model(x, rr.empty_caches(model, 2), mode="fast", trim=True)["logprobs"], y)
    assert close(loss.item(), tensors["batch.loss"].item(), 1e-6), loss.item()

    # main.py resumes: its optimizer and scheduler load the state, then 3 steps of its loop
    vocab, (train, valid, _) = rr.read_corpus(corpus)
    model.train()
    r = rr.Run(model, train, valid)
    r.opt.load_state_dict(ck["optimizer"])
    r.sched.step(ck["scheduler_iter"])
    for p, s in zip(r.ref.parameters(), orig["optimizer"]["state"].values()):
        assert torch.equal(r.opt.state[p]["sum"], s["sum"])
    torch_losses = [r.step() for _ in range(3)]

    # spanscope resumes the same file the way main.py does (streams from the start, no caches)
    back = os.path.join(tmp, f"exp_back_{name}.safetensors")
    import_run(fixtures, name, pt, back)
    step = ck["scheduler_iter"]
    lines = run(cli, "train", "--checkpoint", back, "--corpus", corpus, "--ref-format",
                "--steps", str(step + 3), "--report-every", "1", "--eval-every", "0", "--json",
                "--threads", "1")
    ours = [json.loads(l)["train_bpc"] * math.log(2) for l in lines.splitlines()
            if l.startswith("{")]
    assert len(ours) == 3, lines
    for a, b in zip(ours, torch_losses):
        assert close(a, b, 1e-5), (ours, torch_losses)
    final, _ = safetensors_io.read(back)
    worst = 0.0
    for pname, p in model.named_parameters():
        worst = max(worst, (final[pname] - p.detach()).abs().max().item())
    assert worst <= 2e-4, worst   # Adagrad's first steps magnify round-off (tools/oracle/README)

    # handed back again: the logged iterations as logged, the one trained here as main.py logs
    again = os.path.join(tmp, f"exp_again_{name}.pt")
    run(cli, "export-reference", "--checkpoint", back, "--output", again, "--nbatches",
        str(rr.NBATCHES))
    ck2 = torch.load(again)
    assert ck2["logger"]["step"] == orig["logger"]["step"] + [step + 3], ck2["logger"]["step"]
    for key in ("span_avg", "span_max"):
        assert ck2["logger"][key][:-1] == orig["logger"][key], key
    trained, _ = oracle_from_pt(fixtures, name, ck2)
    avg, mx = rr.logged_spans(trained)
    assert (ck2["logger"]["span_avg"][-1], ck2["logger"]["span_max"][-1]) == (avg, mx), \
        (ck2["logger"], avg, mx)


def read_line(proc, timeout):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError("no version printed in time")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("follow ended: " + proc.stderr.read())
    return json.loads(line)


def test_follow(tmp):
    folder = os.path.join(tmp, "follow")
    os.makedirs(folder)
    rr.write_versions(folder, 3)
    target = os.path.join(folder, "run.pt")
    proc = subprocess.Popen([cli, "follow", target, "--json", "--count", "3", "--corpus",
                             os.path.join(folder, "corpus"), *rr.cli_flags("ff")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for v in range(3):
            ck = torch.load(os.path.join(folder, f"v{v}.pt"))
            if v == 1:   # written slowly: half, a pause longer than the follower waits, the rest
                data = open(os.path.join(folder, "v1.pt"), "rb").read()
                with open(target, "wb") as f:
                    f.write(data[:len(data) // 2])
                    f.flush()
                    time.sleep(1.5)
                    f.write(data[len(data) // 2:])
            else:        # as main.py does: torch.save over the file, in place
                torch.save(ck, target)
            line = read_line(proc, 30)
            assert line["step"] == ck["scheduler_iter"], (line, v)
            assert close(line["train_bpc"], ck["logger"]["train_bpc"][-1], 1e-6), line
            assert close(line["val_bpc"], ck["logger"]["val_bpc"][-1], 1e-6), line
            assert all(math.isfinite(s) for row in line["spans"] for s in row), line
            assert line["logged_span_avg"] == ck["logger"]["span_avg"][-1], line
            assert line["logged_span_max"] == ck["logger"]["span_max"][-1], line
            seen.append(line["step"])
        assert proc.wait(timeout=30) == 0
        err = proc.stderr.read()
        assert err == "", err   # a half-written file is never an error
        assert seen == [3, 6, 9], seen
    finally:
        if proc.poll() is None:
            proc.kill()


with tempfile.TemporaryDirectory() as tmp:
    fixtures = os.path.join(tmp, "fixtures")
    rr.make_fixtures(fixtures)
    env = dict(os.environ, SPANSCOPE_REF_FIXTURES=fixtures)
    check("test-refrun on freshly written fixtures", lambda: run(test_exe, env=env))
    for name in ("ff", "pers"):
        for fmt in ("zip", "legacy"):
            check(f"import {name} ({fmt}): the bpc of the reference's full evaluation",
                  lambda name=name, fmt=fmt: test_import_bpc(fixtures, tmp, name, fmt))
        for legacy in (False, True):
            check(f"export-reference {name} ({'legacy' if legacy else 'zip'}): torch loads it "
                  f"into main.py's model and optimizer; 3 steps equal spanscope's",
                  lambda name=name, legacy=legacy: test_export(fixtures, tmp, name, legacy))
    check("follow --json: 3 versions rewritten in place, one slowly, each printed once",
          lambda: test_follow(tmp))

print(f"1..{len(results)}")
for i, (ok, name, why) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    for line in why.splitlines():
        print(f"# {line}")
sys.exit(0 if all(ok for ok, _, _ in results) else 1)
