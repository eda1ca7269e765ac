"""Fleet evaluation on a Ray cluster of two nodes started on this machine (ray.cluster_utils.Cluster: a head and a
worker node, one CPU each, as `ray start` would run them on two computers): the same bags give the single-process
offline mode's results, and when the worker node leaves in the middle of the run its bag is run again whole on the
head."""
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

os.environ["RAY_DISABLE_USAGE_STATS"] = "1"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported: every Ray address on loopback
ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from perception.runtime.fleet import evaluate_fleet, plan_streams  # noqa: E402
from test_fleet_eval import assert_same_results, bags, cameras_of, evaluating_workers, offline  # noqa: E402,F401


@pytest.fixture
def cluster():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "object_store_memory": 200 * 2**20})
    worker = cluster.add_node(num_cpus=1, object_store_memory=200 * 2**20)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster, worker
    ray.shutdown()
    cluster.shutdown()


def test_two_nodes_give_the_offline_results_and_survive_a_node_leaving(bags, offline, cluster, tmp_path):
    head_and_worker, worker = cluster
    removed, finished = [], threading.Event()

    def remove_the_worker_node_mid_bag() -> None:
        while not finished.is_set() and len(evaluating_workers()) < 2:  # a bag on each node
            time.sleep(0.05)
        if not finished.is_set():
            time.sleep(0.3)
            head_and_worker.remove_node(worker)
            removed.append(True)

    # every bag twice (copies): enough work that the two nodes evaluate bags at the same time on a busy machine
    (tmp_path / "bags").mkdir()
    originals = {}
    for copy in range(2):
        for bag in offline:
            originals[Path(shutil.copy(bag, tmp_path / "bags" / f"{copy}_{bag.name}"))] = bag
    planned = plan_streams(list(originals), cameras_of)
    remover = threading.Thread(target=remove_the_worker_node_mid_bag, daemon=True)
    remover.start()
    try:
        run = evaluate_fleet(planned, tmp_path, address=head_and_worker.address)
    finally:
        finished.set()
        remover.join(30)
    assert removed, "the two nodes never evaluated bags at the same time: nothing was tested"
    assert run.workers == 2
    assert run.retried_streams == 1 and sorted(o.attempts for o in run.outcomes) == [1] * (len(planned) - 1) + [2]
    for outcome in run.outcomes:
        assert outcome.error is None
        original = originals[outcome.bag]
        assert_same_results(outcome.recording, offline[original], original)
