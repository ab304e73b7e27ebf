"""The dependency rule: the agent never imports TensorFlow or Keras."""
import subprocess
import sys


def test_agent_modules_do_not_import_tensorflow() -> None:
    code = (
        "import sys, agent.cli, agent.daemon, agent.model, agent.http, agent.exporter, agent.scoring\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'training')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
