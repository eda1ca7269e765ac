"""Subcommands: up, demo, eval, replay, record, video-to-bag."""
from __future__ import annotations

import argparse
import logging
import signal
import statistics
import sys
from pathlib import Path


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="[%(levelname)s] [%(name)s] %(message)s")


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_up(args: argparse.Namespace) -> int:
    from perception.graph import load_graph
    from perception.resources import config_path
    from perception.runtime.runner import run_graph

    _setup_logging(args.verbose)
    graph = load_graph(args.config or config_path("perception.yaml"))
    return run_graph(graph, respawn=True if args.respawn else None, ready_timeout_s=args.ready_timeout,
                     log_dir=args.log_dir)


def run_replay(args: argparse.Namespace) -> int:
    from perception.runtime.bags import BagReadError
    from perception.runtime.replay import replay

    _setup_logging()
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        stats = replay(args.bag, rate=args.rate, loop=args.loop, topics=args.topics, clock=args.clock,
                       restamp=args.restamp, wait_for_subscribers_s=args.wait_for_subscribers,
                       subscribers=args.subscribers)
    except KeyboardInterrupt:
        return 0
    except BagReadError as error:  # a clear message and a non-zero exit, not a traceback
        print(f"perception replay: {error}", file=sys.stderr)
        return 1
    errors_ms = sorted(1000 * e for e in stats.timing_errors) or [0.0]
    print(f"replayed {stats.published} messages; timing error median {statistics.median(errors_ms):.2f} ms, "
          f"max {errors_ms[-1]:.2f} ms")
    return 0


def run_record(args: argparse.Namespace) -> int:
    from perception.runtime.record import record

    _setup_logging()
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    counts = record(args.out, args.topics, duration_s=args.duration)
    print(f"wrote {args.out}: " + ", ".join(f"{topic} {count}" for topic, count in counts.items()))
    return 0


def run_video_to_bag(args: argparse.Namespace) -> int:
    from perception.runtime.video_to_bag import video_to_bag

    frames = video_to_bag(args.video, args.out, camera_topic=args.camera_topic, info_topic=args.info_topic,
                          frame_id=args.frame_id, horizontal_fov_deg=args.fov, jpeg_quality=args.jpeg_quality)
    print(f"wrote {args.out}: {frames} frames")
    return 0


def _graph_for_bag(config: Path | None, camera: str, camera_topic: str | None, info_topic: str | None):
    """The graph file, with the camera's input topics replaced by the bag's when given."""
    from perception.graph import load_graph
    from perception.resources import config_path

    topics = {key: value for key, value in (("image", camera_topic), ("camera_info", info_topic)) if value}
    return load_graph(config or config_path("perception.yaml"), {camera: topics})


def _evaluate(args: argparse.Namespace, mode: str) -> int:
    from perception.evaluation.report import write_report
    from perception.evaluation.run_summary import summarize_run
    from perception.runtime.demo import run_demo as run_live
    from perception.runtime.offline import node_parameters, run_offline
    from perception.stages import camera_pose_from_parameters

    _setup_logging()
    graph = _graph_for_bag(args.config, args.camera, args.camera_topic, args.info_topic)
    camera = graph.cameras[args.camera]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if mode == "live":
        recording = run_live(graph, args.bag, out, rate=args.rate)
    else:
        recording = run_offline(graph, args.camera, args.bag, out / "eval.mcap", camera["image"], camera["camera_info"])
    print(summarize_run(recording).table())
    pose = camera_pose_from_parameters(node_parameters(graph, "tracker", f"/perception/{args.camera}"))
    report = write_report(recording, out, pose, f"perception {mode} run on {args.bag.name}")
    if args.gt:
        from perception.evaluation.ground_truth import evaluate_against_ground_truth

        for line in evaluate_against_ground_truth(recording, args.gt, args.gt_format):
            print(line)
    print(f"recording: {recording} (open it in Foxglove)\nreport: {report}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from perception.resources import data_path

    args.bag = args.bag or data_path("sample_highway_960x540.mcap")
    args.camera, args.camera_topic, args.info_topic, args.gt = "front", None, None, None
    return _evaluate(args, "live")


def run_eval(args: argparse.Namespace) -> int:
    if args.gt and not args.gt_format:
        raise SystemExit("--gt needs --gt-format mot or kitti")
    return _evaluate(args, args.mode)


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="run the whole graph on a bag (default: the bundled sample)")
    demo.add_argument("--bag", type=Path, help="input bag (default: data/sample_highway_960x540.mcap)")
    demo.add_argument("--config", type=Path, help="graph file (default: the installed config/perception.yaml)")
    demo.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: out/)")
    demo.add_argument("--rate", type=float, default=1.0, help="replay speed factor")
    demo.set_defaults(func=run_demo)

    evaluate = subparsers.add_parser("eval", help="run the stack on a bag and write a report (offline or live)")
    evaluate.add_argument("bag", type=Path)
    evaluate.add_argument("--mode", choices=("offline", "live"), default="offline",
                          help="offline: every frame, deterministic, no DDS; live: the running graph at bag rate")
    evaluate.add_argument("--camera", default="front", help="camera of the graph file whose nodes to use")
    evaluate.add_argument("--camera-topic", help="image topic in the bag (default: the camera's in the graph file)")
    evaluate.add_argument("--info-topic", help="CameraInfo topic in the bag (default: the camera's)")
    evaluate.add_argument("--config", type=Path, help="graph file (default: the installed config/perception.yaml)")
    evaluate.add_argument("--out", type=Path, default=Path("out/eval"), help="output folder (default: out/eval)")
    evaluate.add_argument("--rate", type=float, default=1.0, help="replay speed factor (live mode)")
    evaluate.add_argument("--gt", type=Path, help="ground truth: a MOT sequence folder or a KITTI label_02 file")
    evaluate.add_argument("--gt-format", choices=("mot", "kitti"))
    evaluate.set_defaults(func=run_eval)

    up = subparsers.add_parser("up", help="start the node graph of config/perception.yaml as processes")
    up.add_argument("--config", type=Path, help="graph file (default: the installed config/perception.yaml)")
    up.add_argument("--respawn", action="store_true", help="restart nodes that exit (all nodes)")
    up.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for all nodes")
    up.add_argument("--log-dir", type=Path, help="write each node's output to LOG_DIR/<node>.log")
    up.add_argument("--verbose", action="store_true")
    up.set_defaults(func=run_up)

    replay = subparsers.add_parser("replay", help="publish a ROS 2 bag (sqlite3 or MCAP) at its original timing")
    replay.add_argument("bag", type=Path)
    replay.add_argument("--rate", type=float, default=1.0, help="speed factor (2 = twice as fast)")
    replay.add_argument("--loop", action="store_true", help="start again at the end")
    replay.add_argument("--topics", nargs="+", help="only these topics")
    replay.add_argument("--clock", action="store_true", help="publish /clock with the bag's time")
    replay.add_argument("--restamp", action="store_true",
                        help="set header stamps to the time of publishing (live latency measurement)")
    replay.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to SECONDS for subscribers on every topic before playing")
    replay.add_argument("--subscribers", type=int, default=1, help="how many subscribers to wait for per topic")
    replay.set_defaults(func=run_replay)

    record = subparsers.add_parser("record", help="record topics to one MCAP file (Foxglove, rosbags)")
    record.add_argument("out", type=Path, help="output file, ending in .mcap")
    record.add_argument("--topics", nargs="+", required=True)
    record.add_argument("--duration", type=float, help="stop after this many seconds")
    record.set_defaults(func=run_record)

    video = subparsers.add_parser("video-to-bag", help="turn a video into a bag of CompressedImage + CameraInfo")
    video.add_argument("video", type=Path)
    video.add_argument("out", type=Path, help="output file, ending in .mcap")
    video.add_argument("--camera-topic", default="/sensing/camera/front/image_raw/compressed")
    video.add_argument("--info-topic", default="/sensing/camera/front/camera_info")
    video.add_argument("--frame-id", default="camera_front_optical_frame")
    video.add_argument("--fov", type=float, default=60.0, help="horizontal field of view, degrees")
    video.add_argument("--jpeg-quality", type=int, default=80)
    video.set_defaults(func=run_video_to_bag)
