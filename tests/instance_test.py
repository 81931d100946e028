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


def bad_option_refused_locally():
    p = second("--preset", "bogus")
    assert p.returncode != 0
    assert "--preset" in p.stderr, p.stderr
    assert first.poll() is None


def plain_start_presents():
    p = second()
    assert p.returncode == 0, p.stderr
    assert "already open" in p.stdout, p.stdout


check("the first spanscope owns the application id", first_owns_the_id)
check("a second --preset demo fills the open window's New model dialog", preset_demo_is_forwarded)
check("a second --corpus goes to the dialog too", corpus_is_forwarded)
check("a second --text goes to the inspector", text_is_forwarded)
check("a bad option is refused where it was typed", bad_option_refused_locally)
check("a second plain start presents the open window", plain_start_presents)

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
