"""Sign stage milliseconds per frame on this CPU: the sign detector (ONNX Runtime, native-resolution input) and
the 43-class classifier on its boxes, over real GTSDB validation scenes (1360x800).

Run: nice -n 19 .venv/bin/python benchmarks/signs.py [--scenes 480-519] [--threads 1] [--imgsz 1376]
Prints the median and 90th percentile of each part and of the whole stage. Uses the installed package and models.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from perception.datasets.gtsdb import parse_scene_range, scene_file
from perception.signs.gtsdb import DEFAULT_IMGSZ
from perception.signs.recognizer import SignRecognizer

GTSDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "signs" / "gtsdb" / "train"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenes", default="480-519")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--imgsz", type=int, default=DEFAULT_IMGSZ)
    args = parser.parse_args()
    recognizer = SignRecognizer(imgsz=args.imgsz, threads=args.threads)
    images = [cv2.imread(str(GTSDB / scene_file(number))) for number in parse_scene_range(args.scenes)]
    recognizer.recognize(images[0])  # warm-up
    timings = []
    for image in images:
        recognizer.recognize(image)
        timings.append((recognizer.last_timings.detector_ms, recognizer.last_timings.classifier_ms))
    detector_ms, classifier_ms = np.array(timings).T
    print(f"{len(images)} GTSDB scenes, imgsz {args.imgsz}, {args.threads} thread(s)")
    for name, values in (("detector", detector_ms), ("classifier", classifier_ms),
                         ("sign stage", detector_ms + classifier_ms)):
        print(f"{name:<11} median {np.median(values):7.1f} ms   p90 {np.percentile(values, 90):7.1f} ms")


if __name__ == "__main__":
    main()
