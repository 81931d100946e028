#!/usr/bin/env python3
"""A second `spanscope` while a window is open: two real processes on one session bus.

The first process owns the application id; a second `spanscope --preset demo` hands its options
to it (GApplication's command line, parsed in the primary instance), which opens its New model
dialog filled with them and says so on the second's terminal; the second exits 0. Bad options are
refused in the process they were typed in. Prints TAP.
Usage (under a display and a private session bus, as meson runs it):
  xvfb-run -a dbus-run-session -- instance_test.py PATH/TO/spanscope
"""
import os
import subprocess
import sys
import tempfile
import time

APP = os.path.abspath(sys.argv[1])
APP_ID = "org.spanscope.Spanscope"
results = []

tmp = tempfile.mkdtemp(prefix="spanscope-instance-")
env = dict(os.environ, GSK_RENDERER="cairo", GTK_A11Y="none")
for var in ["XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"]:
    env[var] = os.path.join(tmp, var.lower())
    os.makedirs(env[var])
corpus = os.path.join(tmp, "corpus.txt")
with open(corpus, "w", encoding="utf-8") as f:
    f.write("the spans grow and shrink, heads look back far and near. " * 400)


def check(name, fn):
    try:
        fn()
        results.append((True, name, ""))
    except Exception as e:  # noqa: BLE001 - every failure is reported as TAP
        results.append((False, name, str(e)))


def second(*args, cwd=None):
    return subprocess.run([APP, *args], capture_output=True, text=True, timeout=120, env=env,
                          cwd=cwd)


def registered():
    p = subprocess.run(["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
                        "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner",
                        "string:" + APP_ID], capture_output=True, text=True, timeout=30)
    return "boolean true" in p.stdout


if "DBUS_SESSION_BUS_ADDRESS" not in os.environ or "DISPLAY" not in os.environ:
    print("1..0 # SKIP needs a display and a private session bus (dbus-run-session)")
    sys.exit(0)

first = subprocess.Popen([APP, "--no-autosave", "--corpus", corpus], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
deadline = time.monotonic() + 120
while not registered() and time.monotonic() < deadline and first.poll() is None:
    time.sleep(0.2)


def first_owns_the_id():
    assert first.poll() is None, "the first spanscope exited"
    assert registered(), "the first spanscope did not take " + APP_ID


def preset_demo_is_forwarded():
    p = second("--preset", "demo")
    assert p.returncode == 0, p.stderr
    assert "New model dialog holds the Span demo preset on the demonstration corpus" in p.stdout, \
        p.stdout + p.stderr
    assert first.poll() is None


def corpus_is_forwarded():
    p = second("--corpus", corpus)
    assert p.returncode == 0, p.stderr
    assert "the Desktop preset on " + corpus in p.stdout, p.stdout + p.stderr
    # a relative path is the typing process's, not the open window's
    p = second("--corpus", "corpus.txt", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert "the Desktop preset on " + corpus in p.stdout, p.stdout + p.stderr


def text_is_forwarded():
    p = second("--text", "In the beginning")
    assert p.returncode == 0, p.stderr
    assert "reads your text" in p.stdout, p.stdout


def follow_is_forwarded():
    # a file the run elsewhere has yet to write: the window waits for it
    later = os.path.join(tmp, "later.safetensors")
    p = second("--follow", "later.safetensors", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert "the open window follows " + later in p.stdout, p.stdout + p.stderr
    assert first.poll() is None


def bad_option_refused_locally():
    p = second("--preset", "bogus")
    assert p.returncode != 0
    assert "--preset" in p.stderr, p.stderr
    assert first.poll() is None


def make_checkpoints():
    """Two tiny runs for the comparison, trained by the spanscope-cli next to spanscope."""
    cli = os.path.join(os.path.dirname(APP), "spanscope-cli")
    for name, extra in (("a", []), ("b", ["--no-adapt-span"])):
        subprocess.run([cli, "train", "--corpus", corpus, "--nlayers", "1", "--hid-sz", "16",
                        "--nheads", "2", "--inner-hid-sz", "32", "--attn-span", "64",
                        "--block-sz", "16", "--batch-sz", "2", "--steps", "6", "--eval-every",
                        "3", "--threads", "1", "--checkpoint", os.path.join(tmp, name + ".st"),
                        *extra], check=True, capture_output=True, timeout=300, env=env)


def compare_is_forwarded():
    p = second("--compare", "a.st", "--compare", "b.st", cwd=tmp)
    assert p.returncode == 0, p.stderr
    assert "comparison adds the runs" in p.stdout, p.stdout + p.stderr
    assert first.poll() is None


def compare_screenshot():
    """The comparison window alone, headless, once both runs are open; a run that cannot be
    opened fails it, naming the file."""
    png = os.path.join(tmp, "compare.png")
    p = second("--compare", "a.st", "--compare", "b.st", "--screenshot", png, "--size", "900x600",
               "--no-autosave", cwd=tmp)
    assert p.returncode == 0, p.stdout + p.stderr
    with open(png, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head
    assert (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")) == (900, 600)
    bad = os.path.join(tmp, "missing.st")
    p = second("--compare", bad, "--screenshot", os.path.join(tmp, "bad.png"), "--no-autosave")
    assert p.returncode != 0 and "missing.st" in p.stderr, p.stdout + p.stderr
    assert not os.path.exists(os.path.join(tmp, "bad.png"))


def plain_start_presents():
    p = second()
    assert p.returncode == 0, p.stderr
    assert "already open" in p.stdout, p.stdout


check("the first spanscope owns the application id", first_owns_the_id)
check("a second --preset demo fills the open window's New model dialog", preset_demo_is_forwarded)
check("a second --corpus goes to the dialog too", corpus_is_forwarded)
check("a second --text goes to the inspector", text_is_forwarded)
check("a second --follow is followed by the open window", follow_is_forwarded)
check("a bad option is refused where it was typed", bad_option_refused_locally)
check("a second plain start presents the open window", plain_start_presents)
check("two tiny runs to compare", make_checkpoints)
check("a second --compare adds runs to the open window's comparison", compare_is_forwarded)
check("--screenshot --compare draws the comparison window; a missing run fails it",
      compare_screenshot)

subprocess.run(["gdbus", "call", "--session", "--dest", APP_ID, "--object-path",
                "/org/spanscope/Spanscope", "--method", "org.gtk.Actions.Activate", "quit", "[]",
                "{}"], capture_output=True, timeout=30)
try:
    first.wait(timeout=60)
except subprocess.TimeoutExpired:
    first.kill()
    first.wait()

print(f"1..{len(results)}")
for i, (ok, name, why) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if why:
        print("# " + why.replace("\n", "\n# "))
sys.exit(0 if all(r[0] for r in results) else 1)
