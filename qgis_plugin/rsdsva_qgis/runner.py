"""Find and run the rsdsva executable; its JSON progress lines drive the feedback.

QGIS's Python never imports torch or rsdsva: QGIS's numpy and GDAL never meet
PyTorch's. The command writes its output to a temporary file and renames it at
the end, and treats SIGTERM like Ctrl-C, so a cancelled run leaves nothing.
"""

import json
import os
import queue
import shutil
import subprocess
import threading

from qgis.core import QgsProcessingException

EXECUTABLE_SETTING = "RSDSVA_EXECUTABLE"
SETTING_PATH = "Settings > Options > Processing > Providers > rsdsva > rsdsva executable"
INSTALL_HELP = (
    "rsdsva executable not found. Install rsdsva from its source folder in its own Python environment "
    "(python3 -m venv ~/rsdsva-env && ~/rsdsva-env/bin/pip install /path/to/rsdsva), then set "
    f"{SETTING_PATH} to ~/rsdsva-env/bin/rsdsva, or set the RSDSVA_EXECUTABLE environment variable, "
    "or put rsdsva on PATH."
)


def find_executable():
    """The plugin setting, then RSDSVA_EXECUTABLE, then PATH (``~`` and ``$VARS`` expanded);
    else a QgsProcessingException."""
    candidates = []
    try:
        from processing.core.ProcessingConfig import ProcessingConfig

        candidates.append(ProcessingConfig.getSetting(EXECUTABLE_SETTING) or "")
    except Exception:  # provider not loaded (e.g. a bare test): the other sources still work
        pass
    candidates.append(os.environ.get(EXECUTABLE_SETTING, ""))
    for candidate in candidates:
        candidate = os.path.expandvars(os.path.expanduser(candidate.strip()))  # ~/rsdsva-env/bin/rsdsva, $HOME/...
        if candidate:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
            raise QgsProcessingException(f"rsdsva executable {candidate} does not exist or is not executable. "
                                         + INSTALL_HELP)
    found = shutil.which("rsdsva")
    if found:
        return found
    raise QgsProcessingException(INSTALL_HELP)


def run_rsdsva(args, feedback, progress_json=True, quiet=False):
    """Run ``rsdsva ARGS``; return its stdout lines (echoed to the log unless ``quiet``).
    Cancelling terminates it (no output is left)."""
    command = [find_executable(), *args]
    if progress_json:
        command += ["--progress", "json"]
    feedback.pushCommandInfo(" ".join(command))
    feedback.setProgressText("starting rsdsva (loading the model)")
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME"):  # QGIS's Python paths must not leak into rsdsva's interpreter
        env.pop(key, None)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = queue.Queue()
    stdout = []
    readers = [
        threading.Thread(target=_pump, args=(proc.stderr, lines), daemon=True),
        threading.Thread(target=lambda: stdout.extend(proc.stdout), daemon=True),
    ]
    for t in readers:
        t.start()
    errors = []
    done = []  # the command's "done" event: its output is complete, whatever its exit takes
    while True:
        if feedback.isCanceled():
            _stop(proc)
            proc.stdout.close()
            proc.stderr.close()
            feedback.reportError("cancelled: rsdsva stopped, no output written")
            return None
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if proc.poll() is not None and not readers[0].is_alive() and lines.empty():
                break
            continue
        if line is None:
            continue
        _handle(line, feedback, errors, done)
        if done:
            break
    if done:  # the file is in place: don't wait for the interpreter's teardown (1-3 s)
        try:
            proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            threading.Thread(target=proc.wait, daemon=True).start()
            return []
    proc.wait()
    readers[1].join(timeout=5)
    proc.stdout.close()
    proc.stderr.close()
    for line in stdout if not quiet else ():
        feedback.pushInfo(line.rstrip())
    if proc.returncode != 0:
        message = errors[-1] if errors else f"rsdsva exited with status {proc.returncode}"
        raise QgsProcessingException(message)
    return [line.rstrip() for line in stdout]


def _pump(stream, lines):
    for line in stream:
        lines.put(line)
    lines.put(None)


def _handle(line, feedback, errors, done):
    line = line.rstrip()
    if not line:
        return
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if isinstance(event, dict) and event.get("event") == "progress":
        total, finished = event.get("total") or 0, event.get("done", 0)
        if total and not finished:
            feedback.setProgressText(f"{total} tiles to classify; loading the model")
            feedback.setProgress(1.0)
        elif total:
            feedback.setProgressText(f"{finished} of {total} tiles classified")
            feedback.setProgress(max(1.0, 100.0 * finished / total))
        return
    if isinstance(event, dict) and event.get("event") == "done":
        done.append(event)
        feedback.pushInfo(f"wrote {event.get('out')}: {event.get('classified')} tiles classified, "
                          f"{event.get('skipped')} skipped in {event.get('seconds')} s")
        return
    if isinstance(event, dict) and event.get("event") == "error":  # raised once at the end, not reported twice
        errors.append(event.get("message", ""))
        return
    if isinstance(event, dict):
        feedback.pushInfo(json.dumps(event))
        return
    if line.startswith("Error: "):
        errors.append(line[len("Error: "):])
    elif line.startswith("Warning: "):
        feedback.pushWarning(line[len("Warning: "):])
    else:
        feedback.pushInfo(line)


def _stop(proc):
    """SIGTERM (rsdsva removes its temporary output), then SIGKILL if it does not go."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
