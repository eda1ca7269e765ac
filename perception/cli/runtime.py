"""Subcommands: up, env, demo, eval, replay, record, video-to-bag, convert-bag."""
from __future__ import annotations

import argparse
import importlib.util
import logging
import shlex
import signal
import statistics
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
    graph = load_graph(args.config or config_path("perception.yaml"), network=args.network)
    return run_graph(graph, respawn=True if args.respawn else None, ready_timeout_s=args.ready_timeout,
                     log_dir=args.log_dir)


def run_env(args: argparse.Namespace) -> int:
    """POSIX shell lines that put this install first on each search path (once, however often they run)."""
    from perception.resources import install_paths

    for name, path in install_paths().items():
        entry = shlex.quote(str(path))
        print(f'case ":${name}:" in *:{entry}:*) ;; *) export {name}={entry}"${{{name}:+:${name}}}" ;; esac')
    return 0


def _topic_list(bag: Path) -> str:
    """`--list`: the bag's topics (type, count, rate) and the cameras found among them."""
    from perception.bags import topic_infos
    from perception.runtime.bag_cameras import find_cameras, format_topic_list, left_out_images

    infos = topic_infos(bag)
    left_out = left_out_images(bag, infos)
    return format_topic_list(infos, find_cameras({i.topic: i.msgtype for i in infos if i.topic not in left_out}),
                             left_out)


def _bag_cameras(bag: Path, camera_topic: str | None, info_topic: str | None) -> list:
    """The bag's cameras (or the one on `camera_topic`; image topics without messages and depth images are none,
    unless named), with `info_topic` as the CameraInfo of the one camera, or of those without their own."""
    from dataclasses import replace

    from perception.bags import topic_infos
    from perception.runtime.bag_cameras import (
        CAMERA_INFO_TYPE, CameraSelectionError, find_cameras, left_out_images, select_cameras,
    )

    infos = topic_infos(bag)
    topics = {info.topic: info.msgtype for info in infos}
    left_out = {} if camera_topic else left_out_images(bag, infos)
    cameras = find_cameras({t: m for t, m in topics.items() if t not in left_out})
    if not cameras and left_out:
        raise CameraSelectionError(f"{bag}: no camera images; left out: "
                                   + ", ".join(f"{topic} ({why})" for topic, why in left_out.items()))
    cameras = select_cameras(cameras, bag, camera_topic)
    if info_topic is None:
        return cameras
    if topics.get(info_topic) != CAMERA_INFO_TYPE:
        raise CameraSelectionError(f"{bag}: no CameraInfo topic {info_topic}; its CameraInfo topics: "
                                   + (", ".join(t for t, m in topics.items() if m == CAMERA_INFO_TYPE) or "none"))
    return [replace(camera, info_topic=info_topic) if len(cameras) == 1 or camera.info_topic is None else camera
            for camera in cameras]


def _replay_remapping(args: argparse.Namespace) -> tuple[list[str] | None, dict[str, str]]:
    """Topics to play and their remapping: with --as-camera, the bag's camera goes to that graph camera's topics."""
    from perception.graph import load_graph
    from perception.resources import config_path
    from perception.runtime.bag_cameras import CameraSelectionError

    if args.as_camera is None:
        if args.camera_topic is None:
            return args.topics, {}
        (camera,) = _bag_cameras(args.bag, args.camera_topic, None)
        return [camera.image_topic] + ([camera.info_topic] if camera.info_topic else []), {}
    cameras = _bag_cameras(args.bag, args.camera_topic, None)
    if len(cameras) > 1:
        raise CameraSelectionError(f"{args.bag}: several cameras ({', '.join(c.image_topic for c in cameras)}): "
                                   "pick one with --camera-topic")
    config = args.config or config_path("perception.yaml")
    graph = load_graph(config)
    if args.as_camera not in graph.cameras:
        raise CameraSelectionError(f"{config}: no camera {args.as_camera!r} (cameras: {', '.join(graph.cameras)})")
    (camera,) = cameras
    detector = next(n for n in graph.nodes if n.executable == "detector"
                    and n.namespace.endswith(f"/{args.as_camera}"))
    if detector.parameters.get("image_transport", "compressed") != camera.transport:
        raise CameraSelectionError(
            f"{camera.image_topic} holds {camera.transport} images but the {args.as_camera} detector of {config} "
            f"subscribes to {detector.parameters.get('image_transport', 'compressed')} ones: set its "
            f"image_transport: {camera.transport}")
    entry = graph.cameras[args.as_camera]
    remap = {camera.image_topic: entry["image"]}
    if camera.info_topic:
        remap[camera.info_topic] = entry["camera_info"]
    return args.topics, remap


def topic_counts(entries: list[str]) -> dict[str, int]:
    """["/a=3", ...] -> {"/a": 3, ...}; ValueError naming a malformed entry."""
    counts = {}
    for entry in entries:
        topic, _, count = entry.rpartition("=")
        if not topic or not count.isdigit():
            raise ValueError(f"--topic-subscribers takes TOPIC=N, got {entry!r}")
        counts[topic] = int(count)
    return counts


def run_replay(args: argparse.Namespace) -> int:
    from perception.runtime.replay import replay

    if args.list:
        print(_topic_list(args.bag))
        return 0
    topics, remap = _replay_remapping(args)
    for source, target in remap.items():
        print(f"{source} -> {target}")
    _setup_logging()
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        stats = replay(args.bag, rate=args.rate, loop=args.loop, topics=topics, clock=args.clock,
                       restamp=args.restamp, wait_for_subscribers_s=args.wait_for_subscribers,
                       subscribers=args.subscribers, topic_subscribers=topic_counts(args.topic_subscribers),
                       remap=remap)
    except KeyboardInterrupt:
        return 0
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

    frames = video_to_bag(args.video, args.out, camera_topic=args.camera_topic, info_topic=args.info_topic or None,
                          frame_id=args.frame_id, horizontal_fov_deg=args.fov, jpeg_quality=args.jpeg_quality,
                          encoding=args.encoding, max_frames=args.max_frames)
    print(f"wrote {args.out}: {frames} frames")
    return 0


def run_convert_bag(args: argparse.Namespace) -> int:
    from perception.runtime.convert_bag import convert_bag

    counts = convert_bag(args.bag, args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{topic} {count}" for topic, count in counts.items()))
    return 0


def _intrinsics_parameters(args: argparse.Namespace) -> dict:
    """Tracker parameters for --camera-info / --fov, checked before anything runs."""
    from perception.camera_calibration import read_camera_info_yaml

    if args.camera_info:
        read_camera_info_yaml(args.camera_info)
        return {"camera_info_file": str(args.camera_info.resolve())}
    return {"fov_deg": args.fov} if args.fov else {}


def _evaluate(args: argparse.Namespace, mode: str) -> int:
    from perception.evaluation.report import write_report
    from perception.evaluation.run_summary import summarize_run
    from perception.pipeline.parameters import node_parameters
    from perception.pipeline.stages import camera_pose_from_parameters
    from perception.resources import config_path
    from perception.runtime.bag_cameras import (
        CameraSelectionError, graph_for_cameras, ground_truth_camera, use_odometry_topic,
    )
    from perception.runtime.demo import run_demo as run_live
    from perception.bags import bag_topics
    from perception.runtime.offline import (
        camera_namespace, camera_topics, first_image_size, run_offline, scored_topics,
    )

    if args.list:
        print(_topic_list(args.bag))
        return 0
    parameters = _intrinsics_parameters(args)
    cameras = _bag_cameras(args.bag, args.camera_topic, args.info_topic)
    if len(cameras) > 1 and mode == "live":
        raise CameraSelectionError(
            f"{args.bag}: several cameras ({', '.join(c.image_topic for c in cameras)}); live mode takes one: pick "
            "it with --camera-topic (offline mode evaluates every camera)")
    if mode == "live" and "fov_deg" in parameters:  # the tracker node does not see the images
        parameters["image_width"], parameters["image_height"] = first_image_size(args.bag, cameras[0].image_topic)
    _setup_logging()
    graph, chosen = graph_for_cameras(args.config or config_path("perception.yaml"), args.camera, cameras,
                                      parameters)
    odometry = use_odometry_topic(graph, bag_topics(args.bag), args.odom_topic, args.bag)
    if odometry:
        print(odometry)
    out = args.out.resolve()
    for name, camera in chosen.items():
        print(f"camera {name}: {camera.image_topic} ({camera.transport}), "
              f"CameraInfo: {camera.info_topic or 'none'}")
    out.mkdir(parents=True, exist_ok=True)
    views = {}  # camera -> (report folder, the recording's topics of that camera; None: all)
    if mode == "live":
        recording = run_live(graph, args.bag, out, rate=args.rate)
        views[next(iter(chosen))] = (out, None)
    else:  # every camera and the fusion in one run, one recording
        topics = {name: (camera.image_topic, camera.info_topic) for name, camera in chosen.items()}
        recording = run_offline(graph, topics, args.bag, out / "eval.mcap")
        recorded = sorted(bag_topics(recording))
        for name in chosen:
            views[name] = (out if len(chosen) == 1 else out / name, camera_topics(recorded, graph, name, topics[name]))
    print(summarize_run(recording).table())
    for name, (folder, topics) in views.items():
        pose = camera_pose_from_parameters(node_parameters(graph, "tracker", camera_namespace(name)))
        report = write_report(recording, folder, pose, f"perception {mode} run on {args.bag.name}, camera {name}",
                              topics, camera_namespace(name))
        print(f"recording: {recording} (open it in Foxglove)\nreport: {report}")
    if args.gt:
        from perception.evaluation.ground_truth import evaluate_against_ground_truth

        name = ground_truth_camera(views)
        print(f"ground truth {args.gt}: scored on camera {name} ({chosen[name].image_topic})")
        for line in evaluate_against_ground_truth(recording, args.gt, args.gt_format, scored_topics(graph, name),
                                                  views[name][1]):
            print(line)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from perception.resources import data_path

    args.bag = args.bag or data_path("sample_highway_960x540.mcap")
    args.camera, args.camera_topic, args.info_topic, args.gt = "front", None, None, None
    args.list, args.camera_info, args.fov, args.odom_topic = False, None, None, None
    return _evaluate(args, "live")


def _fleet_ground_truth(args: argparse.Namespace, bag: Path) -> Path | None:
    """The ground truth of `bag` in --gt-dir: <bag name>/ (MOT sequence folder) or <bag name>.txt (KITTI labels)."""
    if args.gt_dir is None:
        return None
    stem = bag.stem if bag.is_file() else bag.name
    candidate = args.gt_dir / (stem if args.gt_format == "mot" else f"{stem}.txt")
    return candidate if candidate.exists() else None


def _evaluate_fleet(args: argparse.Namespace, bags: list[Path]) -> int:
    """Several bags, --workers or --ray-address: detection on Ray, tracking per bag, one report for all."""
    from perception.evaluation.fleet_report import BagRow, write_fleet_report, write_summary
    from perception.resources import config_path
    from perception.bags import bag_topics
    from perception.runtime.bag_cameras import graph_for_cameras, use_odometry_topic
    from perception.runtime.fleet import evaluate_fleet, plan_streams

    if args.mode == "live" or args.gt or args.list:
        raise SystemExit("perception eval: several bags, --workers and --ray-address take neither --mode live, --gt "
                         "nor --list (ground truth for several bags: --gt-dir DIR)")
    if importlib.util.find_spec("ray") is None:  # optional: the fleet evaluation's extra (not imported here)
        raise SystemExit("perception eval: several bags, --workers and --ray-address run on Ray, which is not "
                         "installed: pip install -r requirements-fleet.txt")
    parameters = _intrinsics_parameters(args)
    config = args.config or config_path("perception.yaml")

    def cameras_of(bag: Path) -> tuple:
        graph, chosen = graph_for_cameras(config, args.camera, _bag_cameras(bag, args.camera_topic, args.info_topic),
                                          parameters)
        use_odometry_topic(graph, bag_topics(bag), args.odom_topic, bag)
        return graph, chosen

    _setup_logging()
    out = args.out.resolve()
    planned = plan_streams(bags, cameras_of)
    for outcome in planned:
        if outcome.stream is not None:
            outcome.stream.ground_truth = _fleet_ground_truth(args, outcome.bag)
            outcome.stream.gt_format = args.gt_format
    run = evaluate_fleet(planned, out, workers=args.workers, address=args.ray_address)
    rows = [row for outcome in run.outcomes
            for row in outcome.rows or [BagRow(str(outcome.bag), outcome.name, error=outcome.error)]]
    run_s = max(run.wall_s - run.startup_s, 1e-9)
    summary = {"workers": run.workers, "ray": run.address, "wall_s": round(run.wall_s, 1),
               "startup_s": round(run.startup_s, 1), "frames_evaluated": run.frames,
               "frames_per_s": round(run.frames / run_s, 1), "retried_streams": run.retried_streams,
               "driver_cpu_ms_per_frame": round(1000 * run.driver_cpu_s / max(run.frames, 1), 3),
               "worker_cpu_ms_per_frame": round(1000 * run.worker_cpu_s / max(run.frames, 1), 1),
               "workers_per_driver": round(run.workers_per_driver)}
    json_path = write_summary(rows, summary, out)
    report = write_fleet_report(rows, summary, out)
    for row in rows:
        print(f"{row.stream}: " + (f"FAILED: {row.error}" if row.error else
                                   f"{row.frames} frames, {sum(row.detections.values())} detections, "
                                   f"{row.tracks} tracks" + "".join(f", rejected {reason} {count}"
                                                                    for reason, count in row.rejected.items())))
    print(", ".join(f"{k} {v}" for k, v in summary.items()))
    print(f"report: {report}\nsummary: {json_path}")
    return 1 if all(row.error for row in rows) else 0


def run_eval(args: argparse.Namespace) -> int:
    from perception.runtime.fleet import find_bags

    if (args.gt or args.gt_dir) and not args.gt_format:
        raise SystemExit("--gt and --gt-dir need --gt-format mot or kitti")
    bags = find_bags(args.bags)
    if len(bags) > 1 or args.workers is not None or args.ray_address is not None:
        return _evaluate_fleet(args, bags)
    args.bag = bags[0]
    return _evaluate(args, args.mode)


def workers_count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def degrees(text: str) -> float:
    value = float(text)
    if not 0 < value < 180:
        raise argparse.ArgumentTypeError(f"a horizontal field of view in degrees, in (0, 180), got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    from perception.graph import NETWORKS

    demo = subparsers.add_parser("demo", help="run the whole graph on a bag (default: the bundled sample)")
    demo.add_argument("--bag", type=Path, help="input bag (default: data/sample_highway_960x540.mcap)")
    demo.add_argument("--config", type=Path, help="graph file (default: the installed config/perception.yaml)")
    demo.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: out/)")
    demo.add_argument("--rate", type=float, default=1.0, help="replay speed factor")
    demo.set_defaults(func=run_demo)

    evaluate = subparsers.add_parser(
        "eval", help="run the stack on bags and write a report (offline or live; many bags on Ray)",
        description="Any ROS 2 bag (sqlite3, MCAP) or ROS 1 .bag: the cameras are found by message type (Image, "
                    "CompressedImage) and paired with the CameraInfo of their namespace. Several cameras: each is "
                    "evaluated as its own camera of the graph (offline mode), or pick one with --camera-topic. "
                    "One bag runs in this process, as it always did. Several bags (or folders of bags), --workers "
                    "or --ray-address run a fleet evaluation on Ray (pip install -r requirements-fleet.txt): frames "
                    "are detected in parallel by Ray actors, each bag is tracked in order, and OUT/report.html and "
                    "OUT/summary.json hold a row per bag and the totals.")
    evaluate.add_argument("bags", nargs="+", type=Path, metavar="BAG_OR_DIR",
                          help="bags, or folders searched (any depth) for .mcap, .db3, .bag files and bag folders")
    evaluate.add_argument("--workers", type=workers_count,
                          help="detection workers (Ray actors, one CPU each; default: this machine's CPUs, or the "
                               "cluster's with --ray-address); given, even one bag runs on Ray")
    evaluate.add_argument("--ray-address", metavar="auto|ADDR",
                          help="run on this Ray cluster (auto: the one `ray start` runs on this machine; "
                               "ADDR: host:port of its head) instead of starting Ray on this machine")
    evaluate.add_argument("--list", action="store_true", help="print the bag's topics and cameras, then exit")
    evaluate.add_argument("--mode", choices=("offline", "live"), default="offline",
                          help="offline: every frame, deterministic, no DDS; live: the running graph at bag rate")
    evaluate.add_argument("--camera", default="front",
                          help="camera of the graph file whose nodes and pose a camera of the bag takes (default: "
                               "front; a camera whose image topic the graph file names keeps its own entry)")
    evaluate.add_argument("--camera-topic", help="evaluate only the camera on this image topic")
    evaluate.add_argument("--info-topic", help="CameraInfo topic to use (default: the camera's namespace's; with "
                          "several cameras, for those that have none)")
    intrinsics = evaluate.add_mutually_exclusive_group()
    intrinsics.add_argument("--camera-info", type=Path, metavar="FILE.yaml",
                            help="intrinsics from a camera_calibration / camera_info_manager YAML file, for bags "
                                 "without (valid) CameraInfo")
    intrinsics.add_argument("--fov", type=degrees, metavar="DEG",
                            help="pinhole guess of the intrinsics from the horizontal field of view, for bags "
                                 "without (valid) CameraInfo")
    evaluate.add_argument("--odom-topic", help="nav_msgs/Odometry topic of the vehicle (default: the graph's, /odom; "
                          "where the bag lacks it, the bag's only Odometry topic)")
    evaluate.add_argument("--config", type=Path, help="graph file (default: the installed config/perception.yaml)")
    evaluate.add_argument("--out", type=Path, default=Path("out/eval"),
                          help="output folder (default: out/eval; one subfolder per camera when there are several)")
    evaluate.add_argument("--rate", type=positive, default=1.0, help="replay speed factor (live mode)")
    evaluate.add_argument("--gt", type=Path, help="ground truth: a MOT sequence folder or a KITTI label_02 file")
    evaluate.add_argument("--gt-dir", type=Path, metavar="DIR",
                          help="ground truth of a fleet run: DIR/<bag name>/ (MOT sequence folder) or "
                               "DIR/<bag name>.txt (KITTI label file) for each bag that has one")
    evaluate.add_argument("--gt-format", choices=("mot", "kitti"))
    evaluate.set_defaults(func=run_eval)

    up = subparsers.add_parser("up", help="start the node graph of config/perception.yaml as processes")
    up.add_argument("--config", type=Path, help="graph file (default: the installed config/perception.yaml)")
    up.add_argument("--respawn", action="store_true", help="restart nodes that exit (all nodes)")
    up.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for all nodes")
    up.add_argument("--log-dir", type=Path, help="write each node's output to LOG_DIR/<node>.log")
    up.add_argument("--network", choices=NETWORKS,
                    help="local: loopback discovery, shared memory (UDP on 127.0.0.1 for discovery); vehicle: ROS 2 discovery, UDP + shared "
                         "memory (default: the graph file's `network`)")
    up.add_argument("--verbose", action="store_true")
    up.set_defaults(func=run_up)

    env = subparsers.add_parser(
        "env", help="print the shell exports that let ROS 2 tools find this install (ros2 launch, ros2 run)",
        description='eval "$(perception env)" sets AMENT_PREFIX_PATH, PYTHONPATH, LD_LIBRARY_PATH and PATH for '
                    "the prefix perception is installed in (the venv), like a colcon setup.bash does.")
    env.set_defaults(func=run_env)

    replay = subparsers.add_parser(
        "replay", help="publish a bag (ROS 2 sqlite3 or MCAP, ROS 1 .bag) at its original timing")
    replay.add_argument("bag", type=Path)
    replay.add_argument("--list", action="store_true", help="print the bag's topics and cameras, then exit")
    replay.add_argument("--camera-topic", help="play only the camera on this image topic (and its CameraInfo)")
    replay.add_argument("--as-camera", metavar="NAME",
                        help="publish the bag's camera on the image and camera_info topics of this camera of the "
                             "graph file, for `perception up`")
    replay.add_argument("--config", type=Path, help="graph file for --as-camera (default: the installed one)")
    replay.add_argument("--rate", type=positive, default=1.0, help="speed factor (2 = twice as fast)")
    replay.add_argument("--loop", action="store_true", help="start again at the end")
    replay.add_argument("--topics", nargs="+", help="only these topics")
    replay.add_argument("--clock", action="store_true", help="publish /clock with the bag's time")
    replay.add_argument("--restamp", action="store_true",
                        help="set header stamps to the time of publishing (live latency measurement)")
    replay.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to SECONDS for subscribers on every topic before playing")
    replay.add_argument("--subscribers", type=int, default=1, help="how many subscribers to wait for per topic")
    replay.add_argument("--topic-subscribers", nargs="+", default=[], metavar="TOPIC=N",
                        help="another number of subscribers to wait for on these topics")
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
    video.add_argument("--info-topic", default="/sensing/camera/front/camera_info",
                       help="CameraInfo topic; '' for none")
    video.add_argument("--frame-id", default="camera_front_optical_frame")
    video.add_argument("--fov", type=float, default=60.0, help="horizontal field of view, degrees")
    video.add_argument("--jpeg-quality", type=int, default=80)
    video.add_argument("--encoding", help="raw sensor_msgs/Image in this encoding instead of JPEG: bgr8, rgb8, bgra8, "
                                          "rgba8, mono8, mono16 or bayer_{rggb,bggr,gbrg,grbg}8")
    video.add_argument("--max-frames", type=int, help="stop after this many frames")
    video.set_defaults(func=run_video_to_bag)

    convert = subparsers.add_parser("convert-bag", help="convert a ROS 1 .bag into one ROS 2 MCAP file")
    convert.add_argument("bag", type=Path, help="ROS 1 bag (.bag)")
    convert.add_argument("out", type=Path, help="output file, ending in .mcap")
    convert.set_defaults(func=run_convert_bag)
