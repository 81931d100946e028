#!/usr/bin/env python3
"""End-to-end checks of spanscope-cli: every subcommand, its --help, its JSON and its errors.

Prints TAP so meson counts every check. Usage: cli_test.py PATH/TO/spanscope-cli
"""
import json
import os
import subprocess
import sys
import tempfile

CLI = os.path.abspath(sys.argv[1])
results = []


def run(*args, ok=True):
    p = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)
    if ok and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({p.returncode}): {p.stderr}")
    if not ok and p.returncode == 0:
        raise AssertionError(f"{' '.join(args)} should have failed")
    return p


running = []   # Background programs of the check under way, killed when it ends


def check(name):
    def wrap(fn):
        try:
            fn()
            results.append((True, name, ""))
        except Exception as e:  # noqa: BLE001 - every failure is reported as TAP
            results.append((False, name, str(e)))
        finally:
            while running:
                p = running.pop()
                if p.poll() is None:
                    p.kill()
                    p.wait()
        return fn
    return wrap


tmp = tempfile.mkdtemp(prefix="spanscope-cli-")
corpus = os.path.join(tmp, "corpus.txt")
with open(corpus, "w", encoding="utf-8") as f:
    f.write(("In the beginning was the span, and the span was short. " * 400) + "Ωmega ünïcode.\n")
ckpt = os.path.join(tmp, "model.safetensors")
small = ["--corpus", corpus, "--nlayers", "2", "--hid-sz", "32", "--nheads", "2",
         "--inner-hid-sz", "64", "--attn-span", "128", "--block-sz", "32", "--batch-sz", "4",
         "--adapt-span-ramp", "16", "--lr-warmup", "10",
         "--threads", os.environ.get("SPANSCOPE_TEST_THREADS", "2")]


def metadata(path):
    """The __metadata__ of a safetensors file."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n))["__metadata__"]


@check("help of every subcommand")
def _():
    for cmd in ["train", "eval", "probe", "generate"]:
        out = run(cmd, "--help").stdout
        assert "Usage" in out and "--" in out, out
    out = run("train", "--help").stdout
    for flag in ["--nlayers", "--hid-sz", "--inner-hid-sz", "--nheads", "--attn-span", "--block-sz",
                 "--batch-sz", "--lr", "--optim", "--lr-warmup", "--grad-clip", "--dropout",
                 "--adapt-span", "--adapt-span-loss", "--adapt-span-ramp", "--adapt-span-init",
                 "--adapt-span-cache", "--pers-mem-size", "--corpus", "--steps", "--eval-every",
                 "--checkpoint", "--seed", "--threads", "--json", "--attn-window", "--eval-mode"]:
        assert flag in out, flag
    out = run("--version").stdout
    assert out.startswith("spanscope-cli ") and out.strip().split()[-1][0].isdigit(), out


@check("train --json reports the documented keys and saves a checkpoint")
def _():
    p = run("train", *small, "--steps", "20", "--eval-every", "10", "--report-every", "5",
            "--json", "--checkpoint", ckpt)
    lines = [json.loads(l) for l in p.stdout.splitlines()]
    assert [l["step"] for l in lines] == [5, 10, 15, 20], lines
    for key in ["step", "train_bpc", "tokens_per_s", "span_avg", "span_max", "spans"]:
        assert key in lines[-1], key
    assert "val_bpc" in lines[1] and "val_bpc" in lines[3] and "val_bpc" not in lines[0]
    assert len(lines[-1]["spans"]) == 2 and len(lines[-1]["spans"][0]) == 2
    assert lines[-1]["train_bpc"] < lines[0]["train_bpc"]
    for l in lines:
        assert 0 < l["attn_flops_per_char"] < l["flops_per_char"] <= l["flops_per_char_full_span"], l
        assert 0 < l["cache_bytes"] <= l["cache_bytes_full_span"], l
    # the baseline is the same model: one number for the whole run
    assert len({l["flops_per_char_full_span"] for l in lines}) == 1, lines
    assert os.path.exists(ckpt)


@check("train --eval-mode reference validates every 1000 steps unless told, the window is saved")
def _():
    ref = os.path.join(tmp, "rolling.safetensors")
    p = run("train", *small, "--steps", "12", "--report-every", "4", "--json", "--eval-mode",
            "reference", "--attn-window", "head", "--checkpoint", ref)
    lines = [json.loads(l) for l in p.stdout.splitlines()]
    assert [("val_bpc" in l) for l in lines] == [False, False, True], lines   # the last step only
    p = run("train", *small, "--steps", "12", "--report-every", "4", "--json", "--eval-mode",
            "reference", "--eval-every", "4")
    lines = [json.loads(l) for l in p.stdout.splitlines()]
    assert all("val_bpc" in l for l in lines), lines
    p = run("train", *small, "--steps", "1", "--eval-mode", "rolling", ok=False)
    assert "--eval-mode rolling: expected prefix or reference" in p.stderr, p.stderr
    with open(ref, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    assert json.loads(header["__metadata__"]["config"])["attn_window"] == "head", header


@check("train resumes from its checkpoint")
def _():
    p = run("train", *small, "--steps", "25", "--report-every", "5", "--eval-every", "0",
            "--checkpoint", ckpt)
    assert "resuming" in p.stdout and "step    25/25" in p.stdout, p.stdout


@check("a resumed run keeps its model: other model flags are refused by name, resumable ones taken")
def _():
    run("train", *small, "--steps", "2", "--eval-every", "0", "--checkpoint", ckpt + ".keep")
    p = run("train", *small, "--nlayers", "3", "--hid-sz", "64", "--steps", "3",
            "--checkpoint", ckpt + ".keep", ok=False)
    assert p.returncode == 2, p.returncode
    err = p.stderr
    assert "--nlayers 3 (the checkpoint has 2)" in err and "--hid-sz 64 (the checkpoint has 32)" \
        in err, err
    refused = err.split(": ", 2)[2].split(". A run")[0]   # the list of what differs
    assert "--nheads" not in refused and "--lr" not in refused, refused
    assert "--lr" in err and "--steps" in err, err   # what may change is said
    p = run("train", *small, "--lr", "0.05", "--steps", "3", "--checkpoint", ckpt + ".keep")
    assert "resuming" in p.stdout and "with --lr 0.05 (was 0.07)" in p.stdout, p.stdout
    assert json.loads(metadata(ckpt + ".keep")["config"])["lr"] == 0.05
    err = run("train", "--preset", "small", "--steps", "4", "--checkpoint", ckpt + ".keep",
              ok=False).stderr
    assert "--nlayers 8 (the checkpoint has 2)" in err, err


@check("an error names only the option that is wrong")
def _():
    for args, wrong, others in ((["generate", "--checkpoint", ckpt, "--length", "-3"], "--length -3",
                                 ["--temperature"]),
                                (["generate", "--checkpoint", ckpt, "--temperature", "-1"],
                                 "--temperature -1", ["--length"]),
                                (["train", "--steps", "-5"], "--steps -5",
                                 ["--eval-tokens", "--report-every"])):
        err = run(*args, ok=False).stderr
        assert wrong in err and not any(o in err for o in others), err


@check("eval gives bpc over the whole split")
def _():
    out = json.loads(run("eval", "--checkpoint", ckpt, "--corpus", corpus, "--split", "test").stdout)
    assert out["split"] == "test" and 0 < out["bpc"] < 8 and out["batch_sz"] == 4, out
    assert not out["whole_blocks"] and out["scored"] == 4 * (out["tokens"] // 4 - 1), out


@check("eval --whole-blocks leaves out each stream's last partial block")
def _():
    full = json.loads(run("eval", "--checkpoint", ckpt, "--corpus", corpus).stdout)
    out = json.loads(run("eval", "--checkpoint", ckpt, "--corpus", corpus, "--whole-blocks").stdout)
    stream = out["tokens"] // 4
    assert out["whole_blocks"] and out["scored"] == 4 * ((stream - 1) // 32 * 32), out
    assert out["scored"] < full["scored"] and out["bpc"] != full["bpc"], (out, full)


@check("probe writes attention and surprisal, a position at a time")
def _():
    out = json.loads(run("probe", "--checkpoint", ckpt, "--text", "the span was short").stdout)
    positions = out["positions"]
    assert len(positions) == 18 and positions[0]["surprisal_bits"] is None
    assert [p["offset"] for p in positions] == list(range(18))
    assert "".join(p["text"] for p in positions) == "the span was short" == out["text"]
    heads = out["heads"]
    assert [(h["layer"], h["head"]) for h in heads] == [(0, 0), (0, 1), (1, 0), (1, 1)], heads
    assert out["top_k"] is None and out["max_distance"] is None
    att = [p["attention"][0] for p in positions]
    assert len(att[0]) == 0 and len(att[5]) == min(5, heads[0]["window"])
    total = sum(att[17]) + positions[17]["before_start"][0]
    assert abs(total - 1) < 1e-3, total
    # numbers carry six significant digits, not seventeen
    line = run("probe", "--checkpoint", ckpt, "--text", "the span was short").stdout
    digits = [len(n.lstrip("-0.").replace(".", "").split("e")[0])
              for n in __import__("re").findall(r"-?\d+\.\d+(?:e-?\d+)?", line)]
    assert digits and max(digits) <= 6, max(digits)


@check("probe with persistent memory writes each head's weight on every persistent vector")
def _():
    pers = os.path.join(tmp, "pers.safetensors")
    run("train", *small, "--pers-mem-size", "5", "--steps", "2",
        "--checkpoint", pers)
    out = json.loads(run("probe", "--checkpoint", pers, "--text", "the span", "--heads", "1").stdout)
    for p in out["positions"]:
        slots = p["persistent_slots"]
        assert len(slots) == 2 and all(len(s) == 5 for s in slots), slots
        for k in range(2):  # the slots add up to the mass on persistent memory
            assert abs(sum(slots[k]) - p["persistent"][k]) < 1e-4, (slots, p["persistent"])
        assert 0 < p["persistent"][0] < 1
    plain = json.loads(run("probe", "--checkpoint", ckpt, "--text", "the span").stdout)
    assert "persistent_slots" not in plain["positions"][0]


@check("probe chooses layers, heads, distances and the strongest weights")
def _():
    full = json.loads(run("probe", "--checkpoint", ckpt, "--text", "the span was short").stdout)
    out = json.loads(run("probe", "--checkpoint", ckpt, "--text", "the span was short",
                         "--layers", "1", "--heads", "0", "--max-distance", "3").stdout)
    assert [(h["layer"], h["head"]) for h in out["heads"]] == [(1, 0)], out["heads"]
    for i, (p, q) in enumerate(zip(out["positions"], full["positions"])):
        assert p["attention"] == [q["attention"][2][:3]], (i, p, q)
        assert p["before_start"] == [q["before_start"][2]]
    out = json.loads(run("probe", "--checkpoint", ckpt, "--text", "the span was short",
                         "--top-k", "2").stdout)
    for p, q in zip(out["positions"], full["positions"]):
        for top, dense in zip(p["top"], q["attention"]):
            want = sorted(range(len(dense)), key=lambda d: (-dense[d], d))[:2]
            assert [d for d, _ in top] == [d + 1 for d in want], (top, dense)
            assert [w for _, w in top] == [dense[d] for d in want]


@check("probe streams: a long text with long windows stays within a bounded memory")
def _():
    wide = os.path.join(tmp, "wide.safetensors")
    run("train", "--corpus", corpus, "--nlayers", "2", "--hid-sz", "16", "--nheads", "2",
        "--inner-hid-sz", "32", "--attn-span", "1024", "--adapt-span-init", "1", "--block-sz",
        "16", "--batch-sz", "2", "--steps", "1", "--eval-every", "0", "--threads", "1",
        "--checkpoint", wide)
    text = os.path.join(tmp, "long.txt")
    with open(corpus, encoding="utf-8") as f, open(text, "w", encoding="utf-8") as g:
        g.write((f.read() * 2)[:30000])
    # every head reads all 1,024 distances: the weights of 30,000 positions alone would take
    # 30,000 x 4 heads x 1,024 x 4 bytes = 492 MB held at once
    with open(os.devnull, "wb") as null:
        p = subprocess.Popen([CLI, "probe", "--checkpoint", wide, "--text-file", text,
                              "--top-k", "2", "--threads", "1"], stdout=subprocess.PIPE,
                             stderr=null)
        first = p.stdout.readline()
        rest = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    out = json.loads(first + rest)
    assert len(out["positions"]) == 30000 and out["heads"][0]["window"] == 1024, out["heads"]
    assert all(len(t) == 2 for t in out["positions"][-1]["top"])
    rss_mb = usage.ru_maxrss * 1024 / 1e6
    assert rss_mb < 200, f"peak RSS {rss_mb:.0f} MB"


@check("probe reads a passage of the checkpoint's corpus by default")
def _():
    out = json.loads(run("probe", "--checkpoint", ckpt, "--layers", "0", "--heads", "0").stdout)
    with open(corpus, encoding="utf-8") as f:
        text = f.read()
    assert len(out["positions"]) > 100 and out["text"] in text[len(text) * 9 // 10:], out["text"]


@check("generate continues the prompt")
def _():
    out = run("generate", "--checkpoint", ckpt, "--prompt", "In the", "--length", "30").stdout
    assert out.startswith("In the") and len(out.rstrip("\n")) >= 36, out


@check("export draws figures into PNG, SVG and PDF files")
def _():
    import struct
    out = run("export", "--help").stdout
    for flag in ["--checkpoint", "--figure", "--text", "--text-file", "--layer", "--head", "--log",
                 "--linear-color", "--colormap", "--dark", "--output", "--width", "--height", "--scale"]:
        assert flag in out, flag
    png = os.path.join(tmp, "spans.png")
    run("export", "--checkpoint", ckpt, "--figure", "spans", "--output", png, "--width", "320",
        "--height", "200", "--scale", "2")
    with open(png, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head
    assert struct.unpack(">II", head[16:24]) == (640, 400), struct.unpack(">II", head[16:24])
    svg = os.path.join(tmp, "att.svg")
    run("export", "--checkpoint", ckpt, "--figure", "attention,masks", "--text",
        "the span was short", "--head", "1", "--linear-color", "--colormap", "cividis", "--output", svg)
    with open(svg, encoding="utf-8") as f:
        text = f.read()
    assert text.startswith("<?xml") and "<svg" in text and "<path" in text and "<image" in text
    pdf = os.path.join(tmp, "curves.pdf")
    run("export", "--checkpoint", ckpt, "--figure", "curves, history", "--log", "--dark",
        "--output", pdf)
    with open(pdf, "rb") as f:
        assert f.read(5) == b"%PDF-"
    assert sorted(n for n in os.listdir(tmp) if n.startswith(("spans.", "att.", "curves."))) == \
        ["att.svg", "curves.pdf", "spans.png"], os.listdir(tmp)
    err = run("export", "--checkpoint", ckpt, "--figure", "masks", "--layer", "5", "--text", "ab",
              "--output", png, ok=False).stderr
    assert "--layer 5" in err and "0 to 1" in err, err
    err = run("export", "--checkpoint", ckpt, "--figure", "spans", "--output",
              os.path.join(tmp, "fig.bmp"), ok=False).stderr
    assert "fig.bmp" in err and ".png" in err and ".pdf" in err, err
    assert not os.path.exists(os.path.join(tmp, "fig.bmp"))
    err = run("export", "--checkpoint", ckpt, "--figure", "heat", "--output", png,
              ok=False).stderr
    assert "heat" in err and "attention" in err, err


@check("export with several --checkpoint: the runs side by side, their numbers as JSON lines")
def _():
    import struct
    runs = {}
    for name, extra in (("adaptive", []), ("fixed", ["--no-adapt-span"])):
        path = os.path.join(tmp, f"cmp-{name}.safetensors")
        p = run("train", *small, *extra, "--steps", "12", "--eval-every", "6", "--report-every",
                "12", "--json", "--checkpoint", path)
        runs[name] = (path, json.loads(p.stdout.splitlines()[-1]))
    png = os.path.join(tmp, "cmp.png")
    p = run("export", "--checkpoint", runs["adaptive"][0], "--label", "adaptive span",
            "--checkpoint", runs["fixed"][0], "--figure", "curves,spans,table", "--json",
            "--output", png, "--width", "900", "--height", "600")
    with open(png, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (900, 600)
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    # labels: the one given, else the file name
    assert [r["label"] for r in rows] == ["adaptive span", "cmp-fixed.safetensors"], rows
    for r, name in zip(rows, ("adaptive", "fixed")):
        report = runs[name][1]
        spans = [s for layer in report["spans"] for s in layer]
        assert r["step"] == 12 and r["chars"] == 12 * 4 * 32, r
        assert abs(r["final_val_bpc"] - report["val_bpc"]) < 1e-5, (r, report)
        assert abs(r["span_mean"] - sum(spans) / len(spans)) < 1e-3, (r, spans)
        assert abs(r["span_max"] - max(spans)) < 1e-3, (r, spans)
        assert 0 < r["flops_per_char"] <= r["flops_per_char_full_span"], r
        assert 0 < r["train_flops"] <= 12 * 4 * 32 * r["flops_per_char_full_span"] * (1 + 1e-6), r
    # the same shapes but one span parameter per head (2 layers x 2 heads); a fixed span costs
    # its full span
    assert rows[0]["params"] == rows[1]["params"] + 4 and rows[1]["params"] > 0, rows
    assert rows[1]["flops_per_char"] == rows[1]["flops_per_char_full_span"], rows
    assert rows[0]["flops_per_char"] < rows[1]["flops_per_char"], rows
    svg = os.path.join(tmp, "cmp.svg")
    out = run("export", "--checkpoint", runs["adaptive"][0], "--checkpoint", runs["fixed"][0],
              "--figure", "curves", "--output", svg).stdout
    assert out.strip() == f"wrote {svg}", out
    with open(svg, encoding="utf-8") as f:
        assert "<svg" in f.read(2000)
    for bad, says in ((["--figure", "attention"], "attention"),
                      (["--figure", "spans", "--label", "a", "--label", "b", "--label", "c"],
                       "3 --label for 2 --checkpoint"),
                      (["--figure", "spans", "--text", "abc"], "--text")):
        p = run("export", "--checkpoint", runs["adaptive"][0], "--checkpoint", runs["fixed"][0],
                *bad, "--output", os.path.join(tmp, "bad.png"), ok=False)
        assert p.returncode == 2 and says in p.stderr, (bad, p.stderr)
    assert not os.path.exists(os.path.join(tmp, "bad.png"))


@check("a checkpoint remembers its corpus: eval, probe and export read it from any folder")
def _():
    sub = os.path.join(tmp, "sub")
    os.makedirs(sub, exist_ok=True)
    own = os.path.join(sub, "moved.txt")
    with open(corpus, encoding="utf-8") as f, open(own, "w", encoding="utf-8") as g:
        g.write(f.read().replace("span", "reach"))
    model = os.path.join(tmp, "moved.safetensors")
    args = [a for a in small if a != corpus and a != "--corpus"]
    # a relative --corpus is recorded as an absolute path
    subprocess.run([CLI, "train", *args, "--corpus", "moved.txt", "--steps", "2", "--eval-every",
                    "0", "--checkpoint", model], cwd=sub, check=True, capture_output=True,
                   timeout=600)
    assert json.loads(metadata(model)["trainer"])["corpus"] == own
    out = json.loads(run("eval", "--checkpoint", model).stdout)
    assert out["tokens"] < 2000 and 0 < out["bpc"] < 8, out
    svg = os.path.join(tmp, "own.svg")
    run("export", "--checkpoint", model, "--figure", "attention", "--output", svg)
    probe = json.loads(run("probe", "--checkpoint", model, "--layers", "0").stdout)
    assert "reach" in probe["text"] and "span" not in probe["text"], probe["text"]
    # resuming without --corpus goes on with the recorded corpus
    p = run("train", "--checkpoint", model, "--steps", "3", "--eval-every", "0")
    assert "resuming" in p.stdout and "step     3/3" in p.stdout, p.stdout
    os.remove(own)
    for cmd in (["eval"], ["probe"], ["export", "--figure", "masks", "--output", svg]):
        err = run(*cmd, "--checkpoint", model, ok=False).stderr
        assert "moved.txt" in err and ("--corpus" in err or "--text" in err), err


class Background:
    """spanscope-cli running in the background; its output read as it comes (so it never blocks
    on a full pipe)."""

    def __init__(self, *args):
        import queue
        import threading
        self.p = subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        running.append(self.p)
        self.lines = queue.Queue()
        self.out, self.err = [], []
        self.readers = [threading.Thread(target=self._read, args=(self.p.stdout, self.out, True)),
                        threading.Thread(target=self._read, args=(self.p.stderr, self.err, False))]
        for r in self.readers:
            r.start()

    def _read(self, stream, into, queue_lines):
        for line in stream:
            into.append(line)
            if queue_lines:
                self.lines.put(line)
        if queue_lines:
            self.lines.put(None)

    def wait_for_line(self, fragment, timeout=120):
        """The first line of stdout (from here on) holding fragment, within timeout seconds."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - queue.Empty: the time is up
                line = None
            if line is None or time.monotonic() > deadline:
                raise AssertionError(f"no line with {fragment!r}: {''.join(self.err)}")
            if fragment in line:
                return line

    def finish(self, timeout=120):
        """Waits (no hang: past the timeout it is killed and the check fails); the exit status,
        stdout and stderr."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError(f"still running {timeout} s later")
        for r in self.readers:
            r.join()
        return self.p.returncode, "".join(self.out), "".join(self.err)


@check("Ctrl+C stops a validation at its next block, saves, and exits 130")
def _():
    import re
    import signal
    import time
    stopped = os.path.join(tmp, "stopped.safetensors")
    # the desktop model validating on the whole validation split of the bundled corpus (~200,000
    # characters) takes many seconds on one thread
    p = Background("train", "--steps", "50", "--eval-every", "2", "--eval-tokens", "0",
                   "--report-every", "1", "--threads", "1", "--json", "--checkpoint", stopped)
    assert json.loads(p.wait_for_line('"step":1,'))["step"] == 1
    time.sleep(3)   # step 2 is done, its validation under way
    p.p.send_signal(signal.SIGINT)
    rc, out, err = p.finish()
    assert rc == 130, (rc, err)
    assert "stopping after this step and saving" in err, err
    last = json.loads(out.splitlines()[-1])
    assert last["step"] == 2 and "val_bpc" not in last, last
    m = re.search(r"validation of step 2 left out: the evaluation stopped after (\d+) of its (\d+) "
                  r"positions", err)
    assert m and int(m.group(1)) < int(m.group(2)), err
    assert json.loads(metadata(stopped)["step"]) == 2


@check("a second Ctrl+C quits at once; SIGTERM and SIGHUP stop like Ctrl+C (exit 143, 129)")
def _():
    import signal
    import time
    quit_now = os.path.join(tmp, "quit.safetensors")
    p = Background("train", "--steps", "50", "--eval-every", "2", "--eval-tokens", "0",
                   "--report-every", "1", "--threads", "1", "--checkpoint", quit_now)
    p.wait_for_line("step     1/50")
    time.sleep(3)
    p.p.send_signal(signal.SIGINT)
    time.sleep(0.05)
    p.p.send_signal(signal.SIGINT)
    rc, out, err = p.finish(60)
    assert rc == 130 and "quitting at once, without saving" in err, (rc, err)
    # what is on disk is whole, whenever the second signal came
    if os.path.exists(quit_now):
        json.loads(metadata(quit_now)["step"])
    for sig, status in ((signal.SIGTERM, 143), (signal.SIGHUP, 129)):
        if os.path.exists(quit_now):
            os.remove(quit_now)
        p = Background("train", *small, "--steps", "100000", "--eval-every", "0",
                       "--report-every", "1", "--checkpoint", quit_now)
        p.wait_for_line("step     3/100000")
        p.p.send_signal(sig)
        rc, out, err = p.finish()
        assert rc == status and "saved" in out, (rc, out[-300:], err)
        step = json.loads(metadata(quit_now)["step"])
        assert f"stopped at step {step}" in out, out[-300:]


@check("a save that fails is tried once more, then training stops (exit 1)")
def _():
    import shutil
    import time
    folder = os.path.join(tmp, "vanishing")
    os.makedirs(folder)
    p = Background("train", *small, "--steps", "100000", "--eval-every", "0", "--report-every",
                   "1", "--save-every", "1", "--checkpoint", os.path.join(folder, "run.safetensors"))
    p.wait_for_line("saved")
    for _ in range(100):
        try:
            shutil.rmtree(folder)
            break
        except OSError:  # a save made its temporary file in the folder meanwhile: again
            time.sleep(0.01)
    assert not os.path.exists(folder)
    rc, out, err = p.finish()
    assert rc == 1, (rc, err)
    assert "trying once more" in err and "training stopped at step" in err, err
    assert "step 100000/100000" not in out, out[-300:]


@check("export draws the paper's figures and writes the span table")
def _():
    import csv
    import math
    png = os.path.join(tmp, "paper.png")
    run("export", "--checkpoint", ckpt, "--figure", "distance,heads,summary,persistent",
        "--text", "the span was short", "--query", "5", "--output", png)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    table = os.path.join(tmp, "spans.csv")
    out = run("export", "--checkpoint", ckpt, "--span-table", table).stdout
    assert table in out, out
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["layer"]), int(r["head"])) for r in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # the spans are the checkpoint's (the same as `probe` reports) and each window holds its span
    probe = json.loads(run("probe", "--checkpoint", ckpt, "--text", "the span").stdout)
    heads = probe["heads"]
    for r, h in zip(rows, heads):
        assert abs(float(r["span"]) - h["span"]) < 1e-3 * max(1, h["span"]), (r, h["span"])
        assert int(r["window"]) == h["window"], (r, h["window"])
        assert math.ceil(float(r["span"])) < int(r["window"]) <= 128, r
        assert 0 < float(r["attn_flops_per_char"]) <= float(r["attn_flops_per_char_full_span"]), r
    err = run("export", "--checkpoint", ckpt, "--figure", "heads", "--text", "ab", "--query", "7",
              "--output", png, ok=False).stderr
    assert "--query 7" in err and "0 to 1" in err, err


@check("the span demo preset trains on the demonstration corpus, options override it")
def _():
    out = run("train", "--preset", "demo", "--corpus", "demo", "--steps", "1", "--batch-sz", "2",
              "--block-sz", "16", "--eval-every", "0", "--json").stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    spans = [s for layer in rows[-1]["spans"] for s in layer]
    # the preset starts every head at 0.75·S = 768 characters, past the planted distance 256
    assert len(spans) == 16 and all(700 < s <= 768 for s in spans), spans
    err = run("train", "--preset", "nope", ok=False).stderr
    assert "nope" in err and "demo" in err, err


@check("a preset made for a corpus brings it along unless --corpus names another")
def _():
    demo_ckpt = os.path.join(tmp, "demo.safetensors")
    run("train", "--preset", "demo", "--steps", "1", "--batch-sz", "2", "--block-sz", "16",
        "--eval-every", "0", "--json", "--checkpoint", demo_ckpt)
    assert json.loads(metadata(demo_ckpt)["trainer"])["corpus"] == "demo"
    own = os.path.join(tmp, "own.safetensors")
    run("train", "--preset", "demo", "--corpus", corpus, "--steps", "1", "--batch-sz", "2",
        "--block-sz", "16", "--eval-every", "0", "--json", "--checkpoint", own)
    assert json.loads(metadata(own)["trainer"])["corpus"] == corpus
    config = json.loads(metadata(own)["config"])
    assert config["optim"] == "adam" and config["adapt_span_init"] == 0.75, config
    # the long span preset brings the long-span corpus, which probe reads by default
    long_ckpt = os.path.join(tmp, "long.safetensors")
    run("train", "--preset", "long", "--attn-span", "256", "--nlayers", "1", "--steps", "1",
        "--batch-sz", "2", "--block-sz", "16", "--eval-every", "0", "--checkpoint", long_ckpt)
    assert json.loads(metadata(long_ckpt)["trainer"])["corpus"] == "longdemo"
    config = json.loads(metadata(long_ckpt)["config"])
    assert config["adapt_span_cache"] and config["attn_window"] == "head", config
    probe = json.loads(run("probe", "--checkpoint", long_ckpt, "--layers", "0").stdout)
    assert len(probe["positions"]) > 100, probe["text"]


@check("follow: Ctrl+C, SIGTERM and SIGHUP stop following (exit 130, 143, 129); a folder or a "
       "FIFO is refused, a file not written yet waited for")
def _():
    import signal
    for sig, status in ((signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)):
        p = Background("follow", ckpt)
        p.wait_for_line("step ")
        p.p.send_signal(sig)
        rc, out, err = p.finish(60)
        assert rc == status, (sig, rc, err)
    fifo = os.path.join(tmp, "follow.fifo")
    os.mkfifo(fifo)
    for path in (tmp, fifo):
        p = run("follow", path, ok=False)
        assert p.returncode == 1 and "not a regular file" in p.stderr, p
    p = Background("follow", "--verbose", os.path.join(tmp, "not-yet.safetensors"))
    import time
    time.sleep(1)
    p.p.send_signal(signal.SIGINT)
    rc, out, err = p.finish(60)
    assert rc == 130 and "does not exist (yet)" in err and out == "", (rc, out, err)


@check("export-reference and reference-command warn when a model was trained in head mode")
def _():
    # a folder in the reference's format: one line of decimal byte values per line of text
    data = os.path.join(tmp, "refdata")
    os.makedirs(data, exist_ok=True)
    text = "In the beginning was the span, and the span was short.\n" * 60
    for name in ("train", "valid", "test"):
        with open(os.path.join(data, name + ".txt"), "w") as f:
            for line in text.splitlines():
                f.write(" ".join(str(b) for b in line.encode()) + "\n")
    tiny = ["--corpus", data, "--ref-format", "--nlayers", "1", "--hid-sz", "16", "--nheads", "2",
            "--inner-hid-sz", "16", "--attn-span", "32", "--block-sz", "8", "--batch-sz", "2",
            "--steps", "2", "--eval-every", "0", "--threads", "1"]
    for window in ("head", "reference"):
        run_ck = os.path.join(tmp, f"window_{window}.safetensors")
        run("train", *tiny, "--attn-window", window, "--checkpoint", run_ck)
        p = run("export-reference", "--checkpoint", run_ck, "--output",
                os.path.join(tmp, f"window_{window}.pt"), "--nbatches", "1")
        c = run("reference-command", "--checkpoint", run_ck)
        assert f"(this run: --attn-window {window}" in c.stdout, c.stdout
        assert "--attn-window reference --eval-mode reference" in c.stdout, c.stdout
        for err in (p.stderr, c.stderr):
            if window == "head":
                assert "warning:" in err and "--attn-window head" in err, err
                assert "--attn-window reference" in err, err
            else:
                assert "warning" not in err, err
    # imported back, the run's --nbatches comes from main.py's log, unless given
    back = os.path.join(tmp, "window_back.safetensors")
    run("import", "--checkpoint", os.path.join(tmp, "window_reference.pt"), "--corpus", data,
        "--output", back, "--nbatches", "1", "--block-sz", "8", "--batch-sz", "2")
    c = run("reference-command", "--checkpoint", back)
    assert "--nbatches 1 " in c.stdout and "--nbatches 1, as main.py's log" in c.stderr, c
    c = run("reference-command", "--checkpoint", back, "--nbatches", "5")
    assert "--nbatches 5 " in c.stdout and "main.py's log" not in c.stderr, c
    p = run("export-reference", "--checkpoint", back, "--output", os.path.join(tmp, "again.pt"))
    assert "iteration 1 done" in p.stdout and "not a multiple" not in p.stderr, p


@check("bad input gives clear errors")
def _():
    bad = os.path.join(tmp, "bad.txt")
    with open(bad, "wb") as f:
        f.write(b"valid text " * 50 + b"\xff\xfe broken")
    err = run("train", "--corpus", bad, "--steps", "1", ok=False).stderr
    assert "bad.txt" in err and "550" in err and "UTF-8" in err, err
    err = run("train", "--corpus", os.path.join(tmp, "nope.txt"), ok=False).stderr
    assert "nope.txt" in err, err
    err = run("train", *small, "--nheads", "3", ok=False).stderr
    assert "--nheads" in err, err
    err = run("train", *small, "--batch-sz", "64", "--block-sz", "512", ok=False).stderr
    assert "too few" in err or "split" in err, err
    err = run("eval", "--checkpoint", corpus, ok=False).stderr
    assert "corpus.txt" in err, err
    err = run("probe", "--checkpoint", ckpt, "--text", "a", "--text-file", corpus, ok=False).stderr
    assert "--text" in err and "--text-file" in err and "not both" in err, err
    err = run("frobnicate", ok=False).stderr
    assert "unknown command" in err, err


for i, (ok, name, msg) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if msg:
        print("# " + msg.replace("\n", "\n# "))
print(f"1..{len(results)}")
sys.exit(0 if all(r[0] for r in results) else 1)
