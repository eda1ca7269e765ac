"""Ray started by a fleet evaluation is safe by default: every socket of its processes listens on loopback only, and
Ray's token authentication is on (Ray says so when it starts). Its raylet runs with Ray's timers slowed down."""
import json
import subprocess
import sys

import pytest

from perception.runtime.fleet_workers import LOCAL_RAY_ENVIRONMENT

pytest.importorskip("ray")

LISTENING = r'''
import json, os, psutil
from perception.runtime.fleet_workers import connect
connect(None, 1)  # what `perception eval` calls before anything imports ray
import ray
ray_pids = {p.pid for p in psutil.process_iter(["cmdline"]) if "ray" in " ".join(p.info["cmdline"] or [])}
ray_pids.add(os.getpid())
raylet = next(p for p in psutil.Process().children(recursive=True) if p.name() == "raylet")
print(json.dumps([sorted({c.laddr.ip for c in psutil.net_connections("inet")
                          if c.status == psutil.CONN_LISTEN and c.pid in ray_pids}), raylet.environ()]))
ray.shutdown()
'''


def test_local_ray_listens_on_loopback_only_with_token_authentication(tmp_path):
    run = subprocess.run([sys.executable, "-c", LISTENING], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                            "RAY_DISABLE_USAGE_STATS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    addresses, raylet_environment = json.loads(run.stdout.strip().splitlines()[-1])
    assert addresses and all(ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for ip in addresses), addresses
    assert "Token authentication is enabled" in run.stderr
    assert {name: raylet_environment.get(name) for name in LOCAL_RAY_ENVIRONMENT} == LOCAL_RAY_ENVIRONMENT
