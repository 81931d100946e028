#!/usr/bin/env python3
"""The bad-input table of spanscope-cli: every command with every option given a missing, garbage,
negative, huge or NaN value, and every path option given a FIFO, a folder, /dev/zero, a missing
file, a path through a file and a file of the wrong kind. Each must end with a clear error that
names the option (or the path), a non-zero status, no crash and no hang; run on a build with
AddressSanitizer (tests/meson.build), nothing may leak either.

Prints TAP, one check per command and kind of input. Usage: cli_bad_input.py PATH/TO/spanscope-cli
"""
import os
import re
import subprocess
import sys
import tempfile

CLI = os.path.abspath(sys.argv[1])
TIMEOUT = float(os.environ.get("SPANSCOPE_CLI_TIMEOUT", 60))   # seconds: no hang
results = []

# an AddressSanitizer build reports leaks and memory errors and exits with this status
SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan-suppressions.txt")
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:exitcode=99:abort_on_error=0",
           LSAN_OPTIONS=f"suppressions={SUPPRESSIONS}:print_suppressions=0",
           UBSAN_OPTIONS="print_stacktrace=1", G_SLICE="always-malloc", G_DEBUG="")
SANITIZER = re.compile(r"ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:")


def run(args):
    try:
        p = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=TIMEOUT, env=ENV,
                           stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{' '.join(args)}: still running after {TIMEOUT} s")
    return p


def refused(args, *fragments, status=None):
    """args must fail cleanly with a message holding every fragment."""
    p = run(args)
    what = " ".join(args)
    if SANITIZER.search(p.stderr):
        raise AssertionError(f"{what}: sanitizer report:\n{p.stderr[-3000:]}")
    if p.returncode == 0:
        raise AssertionError(f"{what}: accepted (exit 0)")
    if p.returncode < 0 or p.returncode >= 128:
        raise AssertionError(f"{what}: died (status {p.returncode}): {p.stderr[-500:]}")
    if status is not None and p.returncode != status:
        raise AssertionError(f"{what}: exit {p.returncode}, expected {status}: {p.stderr}")
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    if not lines or not lines[-1].startswith("spanscope-cli"):
        raise AssertionError(f"{what}: no message of ours: {p.stderr!r}")
    for bad in ("CRITICAL", "WARNING **", "Segmentation"):
        if bad in p.stderr:
            raise AssertionError(f"{what}: {bad} in {p.stderr}")
    for f in fragments:
        if f not in p.stderr:
            raise AssertionError(f"{what}: message does not name {f!r}: {p.stderr}")


def accepted(args):
    """args must succeed, and (on a sanitizer build) leak nothing."""
    p = run(args)
    if p.returncode != 0 or SANITIZER.search(p.stderr):
        raise AssertionError(f"{' '.join(args)}: exit {p.returncode}: {p.stderr[-3000:]}")
    return p


def check(name):
    def wrap(fn):
        try:
            fn()
            results.append((True, name, ""))
        except Exception as e:  # noqa: BLE001 - every failure is reported as TAP
            results.append((False, name, str(e)))
        return fn
    return wrap


tmp = tempfile.mkdtemp(prefix="spanscope-bad-")
corpus = os.path.join(tmp, "corpus.txt")
with open(corpus, "w", encoding="utf-8") as f:
    f.write("the spans grow and shrink while heads look back, far and near.\n" * 300)
ckpt = os.path.join(tmp, "model.safetensors")
tiny = ["--nlayers", "1", "--hid-sz", "8", "--nheads", "2", "--inner-hid-sz", "16",
        "--attn-span", "32", "--adapt-span-ramp", "4", "--block-sz", "16", "--batch-sz", "2",
        "--threads", "1"]
png = os.path.join(tmp, "out.png")
# a run in the reference's format (a folder of decimal byte values, a line per line of text), and
# the .pt main.py would write of it, for import, export-reference and follow
refdata = os.path.join(tmp, "refdata")
os.mkdir(refdata)
for split in ("train", "valid", "test"):
    with open(os.path.join(refdata, split + ".txt"), "w") as f:
        for line in ["the span was short, and then it grew."] * 40:
            f.write(" ".join(str(b) for b in line.encode()) + "\n")
refck = os.path.join(tmp, "ref.safetensors")
pt = os.path.join(tmp, "run.pt")
imported = os.path.join(tmp, "imported.safetensors")

# the odd paths
fifo = os.path.join(tmp, "fifo")
os.mkfifo(fifo)
folder = os.path.join(tmp, "folder")
os.mkdir(folder)
missing = os.path.join(tmp, "missing.txt")
through_file = os.path.join(corpus, "child")     # a path through a file: ENOTDIR
empty = os.path.join(tmp, "empty")
open(empty, "w").close()
unreadable = os.path.join(tmp, "unreadable.txt")
with open(unreadable, "w") as f:
    f.write("secret\n")
os.chmod(unreadable, 0)
binary = os.path.join(tmp, "binary.bin")
with open(binary, "wb") as f:
    f.write(bytes(range(256)) * 64)
ODD = {"FIFO": fifo, "folder": folder, "/dev/zero": "/dev/zero", "missing file": missing,
       "path through a file": through_file, "empty file": empty}
if os.geteuid() != 0:   # root reads any file
    ODD["unreadable file"] = unreadable

# what each command needs to run, so that only the option under test is wrong
BASE = {
    "train": ["--corpus", corpus, *tiny, "--steps", "1", "--eval-every", "0"],
    "eval": ["--checkpoint", ckpt, "--corpus", corpus],
    "probe": ["--checkpoint", ckpt, "--text", "the spans"],
    "generate": ["--checkpoint", ckpt, "--length", "5"],
    "export": ["--checkpoint", ckpt, "--figure", "spans", "--output", png],
    "import": ["--checkpoint", pt, "--corpus", refdata, "--output", imported, "--nbatches", "1"],
    "export-reference": ["--checkpoint", refck, "--output", pt, "--nbatches", "1"],
    "reference-command": ["--checkpoint", ckpt],
    "follow": [pt, "--count", "1", "--corpus", refdata, "--nbatches", "1"],
}
# options whose every value in BAD_VALUES is wrong (numbers, and names from a list)
VALUED = {
    "train": ["nlayers", "hid-sz", "nheads", "inner-hid-sz", "pers-mem-size", "dropout",
              "attn-span", "adapt-span-ramp", "adapt-span-loss", "adapt-span-init", "block-sz",
              "batch-sz", "optim", "lr", "lr-warmup", "grad-clip", "seed", "threads", "steps",
              "attn-window", "eval-mode",
              "eval-every", "eval-tokens", "save-every", "report-every", "preset"],
    "eval": ["batch-sz", "threads", "split"],
    "probe": ["top-k", "max-distance", "threads", "layers", "heads"],
    "generate": ["length", "temperature", "seed", "threads"],
    "export": ["max-chars", "layer", "head", "query", "width", "height", "scale", "font-size",
               "threads", "figure", "colormap"],
    "export-reference": ["nbatches"],
    "reference-command": ["gpus", "steps", "nbatches"],
}
# import and follow take main.py's flags: the settings, without the run's own options
VALUED["import"] = [o for o in VALUED["train"] if o not in (
    "steps", "eval-every", "eval-tokens", "save-every", "report-every", "preset")] + ["nbatches"]
VALUED["follow"] = VALUED["import"] + ["count"]
BAD_VALUES = {"garbage": "abc", "negative": "-5", "huge": "1e20", "NaN": "nan"}
# options whose value is a path, and any text
PATHS = {"train": ["corpus", "checkpoint"], "eval": ["corpus", "checkpoint"],
         "probe": ["checkpoint", "text-file"], "generate": ["checkpoint"],
         "export": ["checkpoint", "text-file", "output", "span-table"],
         "import": ["checkpoint", "corpus", "data", "output"],
         "export-reference": ["checkpoint", "output"], "reference-command": ["checkpoint"],
         "follow": ["corpus", "data"]}
# (reference-command's --data and --output are main.py's, written into its command line)
TEXT = {"probe": ["text"], "generate": ["prompt"], "export": ["text", "label"],
        "reference-command": ["data", "output"]}


def help_options(cmd):
    """The options --help lists that take a value."""
    out = accepted([cmd, "--help"]).stdout
    return {m.group(1) for m in re.finditer(r"^\s+(?:-\w, )?--([a-z-]+)=", out, re.M)}


def with_option(cmd, option, value):
    """The command's base arguments with option set to value (replacing the base's)."""
    args, base, i = [cmd], BASE[cmd], 0
    replaced = {"--" + option} | ({"--text"} if option == "text-file" else set()) | (
        {"--corpus"} if option == "data" else set())
    while i < len(base):
        if base[i] in replaced:
            i += 2
            continue
        args.append(base[i])
        i += 1
    return args + ["--" + option] + ([] if value is None else [value])


@check("setup: a tiny checkpoint, and every command runs on the base arguments")
def _():
    accepted(["train", "--corpus", corpus, *tiny, "--steps", "2", "--eval-every", "0",
              "--checkpoint", ckpt])
    accepted(["train", "--corpus", refdata, "--ref-format", *tiny, "--steps", "2",
              "--eval-every", "0", "--checkpoint", refck])
    accepted(["export-reference", "--checkpoint", refck, "--output", pt, "--nbatches", "1"])
    for cmd in BASE:
        accepted([cmd, *BASE[cmd]])


@check("the table covers every option that takes a value")
def _():
    for cmd in BASE:
        listed = set(VALUED[cmd]) | set(PATHS[cmd]) | set(TEXT.get(cmd, []))
        assert help_options(cmd) == listed, (cmd, help_options(cmd) ^ listed)


for cmd in BASE:
    @check(f"{cmd}: every option without its value")
    def _(cmd=cmd):
        for option in VALUED[cmd] + PATHS[cmd] + TEXT.get(cmd, []):
            # the option last, so that nothing follows to be taken for its value
            refused(with_option(cmd, option, None), "--" + option, status=2)

    for kind, value in BAD_VALUES.items():
        @check(f"{cmd}: every option given a {kind} value ({value})")
        def _(cmd=cmd, value=value):
            for option in VALUED[cmd]:
                refused(with_option(cmd, option, value), "--" + option, status=2)

    @check(f"{cmd}: every path option given odd paths ({', '.join(ODD)})")
    def _(cmd=cmd):
        for option in PATHS[cmd]:
            for kind, path in ODD.items():
                if option == "checkpoint" and cmd == "train" and kind == "missing file":
                    continue   # a new run saves there
                if option == "output" and kind in ("FIFO", "/dev/zero", "missing file",
                                                   "empty file"):
                    continue   # a file is written (over) there
                if option == "span-table" and kind in ("missing file", "empty file"):
                    continue   # the table is written (over) there
                refused(with_option(cmd, option, path), path)

    @check(f"{cmd}: stray arguments and unknown options")
    def _(cmd=cmd):
        refused([cmd, *BASE[cmd], "stray"], "stray", status=2)
        refused([cmd, *BASE[cmd], "--frobnicate"], "--frobnicate", status=2)


@check("follow PATH: odd paths refused (a missing or empty file is waited for: a run has yet to "
       "write it), a corpus as a checkpoint")
def _():
    for kind, path in ODD.items():
        if kind not in ("missing file", "empty file", "unreadable file"):
            refused(["follow", path, *BASE["follow"][1:]], path, status=1)
    refused(with_option("import", "checkpoint", corpus), corpus)
    refused(with_option("import", "corpus", os.path.dirname(refdata)), "valid.txt")


@check("files of the wrong kind: text as a checkpoint, binary as a corpus or a text")
def _():
    for cmd in ("eval", "probe", "generate", "export"):
        refused(with_option(cmd, "checkpoint", corpus), corpus)
    refused(with_option("train", "corpus", binary), binary, "UTF-8")
    refused(with_option("probe", "text-file", binary), binary, "UTF-8")
    with open(os.path.join(tmp, "nul.txt"), "wb") as f:
        f.write(b"the spans\x00grow")
    for cmd in ("probe", "export"):
        refused(with_option(cmd, "text-file", os.path.join(tmp, "nul.txt")), "nul.txt", "byte 9")


@check("values that only the model can refuse: layers and heads it does not have")
def _():
    refused(with_option("probe", "layers", "0,7"), "--layers", "0 to 0", status=2)
    refused(with_option("probe", "heads", "2"), "--heads", "0 to 1", status=2)
    refused(with_option("export", "layer", "3"), "--layer 3", status=2)
    refused(with_option("export", "head", "9"), "--head 9", status=2)
    refused(["probe", *BASE["probe"], "--text-file", corpus], "--text", "--text-file", status=2)
    refused(with_option("export", "output", os.path.join(tmp, "fig.bmp")), "fig.bmp", ".png")


@check("missing required options, and no command")
def _():
    for cmd in ("eval", "probe", "generate", "export", "import", "export-reference",
                "reference-command"):
        refused([cmd], "--checkpoint", status=2)
    refused(["follow"], "PATH", status=2)
    refused(["export", "--checkpoint", ckpt], "--figure", status=2)
    p = run([])
    assert p.returncode == 2 and "Usage" in p.stdout, p
    refused(["frobnicate"], "frobnicate", status=2)


for i, (ok, name, msg) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if msg:
        print("# " + msg.replace("\n", "\n# "))
print(f"1..{len(results)}")
sys.exit(0 if all(r[0] for r in results) else 1)
