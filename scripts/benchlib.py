"""What the bench scripts share: running a command, naming the machine,
reading a bench's mean from criterion's estimates, finding a free port and
waiting for a server to listen on it, and keeping the RESP figures in
reports/bench-resp-sqs.md the same as reports/bench-resp.md's."""
import json
import os
import pathlib
import platform
import socket
import subprocess
import sys
import time


def run(args):
    return subprocess.run(args, check=True, capture_output=True, text=True)


def machine():
    lines = pathlib.Path("/proc/cpuinfo").read_text().splitlines()
    model = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("model name")), "unknown CPU")
    cores = len([l for l in lines if l.startswith("processor")])
    return f"{model}, {cores} cores, Linux {platform.release()}"


def estimate(bench_id):
    """The mean and its 95% interval, in ns, of bench `group/name` (the
    group's own slashes become underscores in criterion's directory)."""
    group, name = bench_id.rsplit("/", 1)
    group = group.replace("/", "_")
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    directory = target / "criterion" / group / name.replace("/", "_")
    estimates = json.loads((directory / "new/estimates.json").read_text())
    mean = estimates["mean"]
    return mean["point_estimate"], mean["confidence_interval"]["lower_bound"], mean["confidence_interval"]["upper_bound"]


def commit_line():
    """The short commit, marked when the tree has uncommitted changes."""
    commit = run(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    return f"{commit}{' (with uncommitted changes)' if dirty else ''}"


def free_port():
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port, timeout=20):
    """Returns once something listens on `port`; exits after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on {port}")


RESP_REPORT = pathlib.Path("reports/bench-resp.md")
RESP_SQS_REPORT = pathlib.Path("reports/bench-resp-sqs.md")
RESP_SECTION = "## RESP: Redis Pub/Sub against redis-server"


def resp_section():
    """The RESP section of reports/bench-resp-sqs.md: reports/bench-resp.md
    as it is now, without its title."""
    if RESP_REPORT.exists():
        body = "\n".join(l for l in RESP_REPORT.read_text().splitlines() if not l.startswith("# "))
    else:
        body = "(no reports/bench-resp.md yet: run scripts/bench-resp.py)"
    return "\n".join([RESP_SECTION, "", "From `reports/bench-resp.md` (`scripts/bench-resp.py`):", "",
                      body.strip(), ""])


def splice_resp_section():
    """Rewrites the RESP section of reports/bench-resp-sqs.md from
    reports/bench-resp.md, so that regenerating either report keeps the
    two the same; the SQS section is left as it was measured."""
    if not RESP_SQS_REPORT.exists():
        return
    text = RESP_SQS_REPORT.read_text()
    head = text.split(RESP_SECTION, 1)[0]
    RESP_SQS_REPORT.write_text(head + resp_section())
