"""What the sign node costs the main detector in `perception demo`: runs of the demo on the bundled bag, alternating
between the installed graph (signs on) and the same graph without the sign node (and any further graph files given),
the order rotated each round; per run, the frames the main detector processed and the frames the sign node processed.

Run: .venv/bin/python benchmarks/sign_frame_share.py [--rounds 5] [EXTRA_GRAPH.yaml ...]
Prints every run and a table: the median per graph and its change against the graph without signs. The machine
should be otherwise idle; state its CPU with the figures (the table prints the model).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from perception.resources import config_path

PERCEPTION = Path(sys.executable).with_name("perception")
DETECTOR_FRAMES = re.compile(r"front/detector: frames_processed=(\d+)")
SIGN_FRAMES = re.compile(r"front/signs: frames_processed=(\d+)")


def without_signs(graph: Path, out: Path) -> Path:
    """`graph` with the sign node disabled, written to `out`."""
    data = yaml.safe_load(graph.read_text())
    data["nodes"]["signs"]["enabled"] = False
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def demo_frames(graph: Path, out: Path) -> tuple[int, int]:
    """(main detector frames, sign frames) of one `perception demo` run with `graph`."""
    run = subprocess.run([str(PERCEPTION), "demo", "--config", str(graph), "--out", str(out)],
                         capture_output=True, text=True, check=True)
    detector = DETECTOR_FRAMES.search(run.stdout)
    if detector is None:
        raise RuntimeError(f"no detector counts in the demo's output:\n{run.stdout[-2000:]}")
    signs = SIGN_FRAMES.search(run.stdout)
    return int(detector.group(1)), int(signs.group(1)) if signs else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="runs of each graph")
    parser.add_argument("graphs", nargs="*", type=Path, help="further graph files to compare (e.g. another nice)")
    args = parser.parse_args()
    installed = config_path("perception.yaml")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        graphs = [without_signs(installed, folder / "without_signs.yaml"), installed, *args.graphs]
        runs: dict[Path, list[tuple[int, int]]] = {graph: [] for graph in graphs}
        for number in range(args.rounds):
            for graph in graphs[number % len(graphs):] + graphs[:number % len(graphs)]:
                started, load = time.strftime("%H:%M:%S"), os.getloadavg()[0]
                runs[graph].append(demo_frames(graph, folder / "out"))
                detector, signs = runs[graph][-1]
                print(f"{started} load {load:.2f} {graph.name}: detector {detector} frames, signs {signs}", flush=True)
    base = statistics.median(detector for detector, _ in runs[graphs[0]])
    print(f"CPU: {cpu}, {os.cpu_count()} cores; {args.rounds} round(s)")
    print("| graph | main detector frames | median | change | sign frames |")
    print("|---|---|---|---|---|")
    for graph, results in runs.items():
        median = statistics.median(detector for detector, _ in results)
        print(f"| {graph.name} | {', '.join(str(d) for d, _ in results)} | {median:g} | "
              f"{100 * (median - base) / base:+.1f} % | {', '.join(str(s) for _, s in results)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
