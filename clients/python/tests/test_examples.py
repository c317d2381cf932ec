"""The two examples under examples/python work as the README says."""

import os
import signal
import subprocess
import sys

from conftest import DSN

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "examples", "python")


def test_the_examples_enqueue_and_run_an_invoice():
    env = dict(os.environ, DATABASE_URL=DSN,
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    worker = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "worker.py")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "enqueue.py")], env=env,
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert "result {'sent': True}" in out.stdout
    finally:
        worker.send_signal(signal.SIGTERM)
        logs = worker.communicate(timeout=10)[0]
    assert worker.returncode == 0, logs
    assert "sending invoice" in logs
