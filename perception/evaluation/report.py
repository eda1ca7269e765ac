"""HTML report of a recorded run (no ROS): annotated video, bird's-eye view, latency, drops, online ADE/FDE,
traffic signs."""
from __future__ import annotations

import html
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from perception.evaluation.online_prediction import online_errors, online_errors_by_range  # noqa: E402
from perception.evaluation.recorded_run import (  # noqa: E402
    IMAGE_TYPES, RunData, load_run, path_positions, prediction_records, track_observations)
from perception.evaluation.run_summary import VEHICLE_FRAMES, RunSummary, summarize_run  # noqa: E402
from perception.evaluation.sign_report import SIGN_TRACK_HEADER, SIGNS, signs_section  # noqa: E402
from perception.imaging import decode_image_message  # noqa: E402
from perception.message_decoding import ground_frame_id  # noqa: E402
from perception.tracking.ground_plane import CameraPose  # noqa: E402
from perception.types import ObjectClass  # noqa: E402
from perception.visualization.draw import draw_boxes, draw_paths, track_caption  # noqa: E402
from perception.visualization.style import CLASS_COLORS  # noqa: E402

GIF_WIDTH = 480
GIF_MAX_FRAMES = 150  # longer runs show every n-th frame, to keep the page light
BEV_PATH_EVERY = 10  # draw the predicted paths of every n-th prediction message


def _label(obj) -> int:
    return int(obj.classification[0].label) if obj.classification else int(ObjectClass.UNKNOWN)


def write_annotated_gif(data: RunData, pose: CameraPose, out: Path) -> int:
    """Images with tracker output, in real time: track boxes with id and class, predicted paths; returns frames."""
    frames = []
    stamps = [stamp for stamp in sorted(data.tracks) if stamp in data.images]
    every = -(-len(stamps) // GIF_MAX_FRAMES)
    shown = stamps[::max(every, 1)]
    for stamp in shown:
        image = decode_image_message(data.images[stamp])
        objects = data.tracks[stamp].objects
        boxes = np.array([[o.box.x_min, o.box.y_min, o.box.x_max, o.box.y_max] for o in objects]).reshape(-1, 4)
        image = draw_boxes(image, boxes, [_label(o) for o in objects],
                           [track_caption(o.track_id, _label(o)) for o in objects])
        prediction = data.predictions.get(stamp)
        # Paths in an odom frame would need the vehicle pose at this stamp to be drawn into the image.
        if prediction is not None and data.intrinsics is not None and ground_frame_id(prediction) in VEHICLE_FRAMES:
            paths = [(_label(o), np.vstack([[o.position.x, o.position.y], path_positions(o.paths[0])]))
                     for o in prediction.objects if o.paths]
            image = draw_paths(image, paths, data.intrinsics, pose)
        scale = GIF_WIDTH / image.shape[1]
        small = cv2.resize(image, (GIF_WIDTH, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        frames.append(Image.fromarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB)))
    if frames:
        gaps_ms = [round((b - a) / 1e6) for a, b in zip(shown, shown[1:])] or [100]
        durations = gaps_ms + [int(np.median(gaps_ms))]
        frames[0].save(out, save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=True)
    return len(frames)


def plot_birds_eye_view(data: RunData, out: Path) -> None:
    """Tracks' ground positions (x forward, up; y left, left) with predicted paths at regular instants."""
    figure, axes = plt.subplots(figsize=(7, 7))
    labels = {o.track_id: _label(o) for m in data.tracks.values() for o in m.objects}
    observations = track_observations(data)
    for track_id, samples in observations.items():
        samples = np.array(sorted(samples))
        color = CLASS_COLORS[ObjectClass(labels[track_id])]
        axes.plot(-samples[:, 2], samples[:, 1], "-", color=color, linewidth=2)
        axes.annotate(f"#{track_id}", (-samples[-1, 2], samples[-1, 1]), fontsize=8)
    for index, stamp in enumerate(sorted(data.predictions)):
        if index % BEV_PATH_EVERY:
            continue
        for obj in data.predictions[stamp].objects:
            if obj.paths:
                path = np.vstack([[obj.position.x, obj.position.y], path_positions(obj.paths[0])])
                axes.plot(-path[:, 1], path[:, 0], "--", color=CLASS_COLORS[ObjectClass(_label(obj))],
                          linewidth=1, alpha=0.7)
    frames = {ground_frame_id(m) for m in data.tracks.values()} - {""}
    origin = "ego vehicle" if frames <= VEHICLE_FRAMES else "odom origin (the vehicle where odometry started)"
    axes.plot(0, 0, "k^", markersize=12, label=f"{origin} ({', '.join(sorted(frames))})")
    axes.set_xlabel("lateral position, m (left is negative)")
    axes.set_ylabel("forward position, m")
    axes.set_title("Tracks (solid) and predicted paths (dashed, every %d-th frame)" % BEV_PATH_EVERY)
    # The view follows the tracks (and the ego vehicle), not far-flung paths of noisy distant tracks.
    points = np.array([[0.0, 0.0]] + [(-y, x) for samples in observations.values() for _, x, y in samples])
    low, high = points.min(axis=0) - 10.0, points.max(axis=0) + 10.0
    axes.set_xlim(low[0], high[0])
    axes.set_ylim(low[1], high[1])
    axes.set_aspect("equal", adjustable="box")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def _outputs_in_pipeline_order(summary: RunSummary) -> list:
    """Topics with latencies, earliest stage (lowest median latency) first."""
    return sorted((s for s in summary.topics.values() if s.latencies_ms), key=lambda s: np.median(s.latencies_ms))


def plot_latency(summary: RunSummary, out: Path) -> None:
    outputs = _outputs_in_pipeline_order(summary)
    figure, axes = plt.subplots(len(outputs), 1, figsize=(8, 2.2 * max(len(outputs), 1)), squeeze=False)
    for axis, topic in zip(axes[:, 0], outputs):
        axis.hist(topic.latencies_ms, bins=40, color="tab:blue")
        for percentile, style in ((50, "-"), (95, "--"), (99, ":")):
            axis.axvline(np.percentile(topic.latencies_ms, percentile), color="k", linestyle=style,
                         label=f"p{percentile}")
        axis.set_title(f"{topic.topic}: image stamp to output (ms)", fontsize=10)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(recording: Path, out_dir: Path, pose: CameraPose, title: str, topics: list[str] | None = None,
                 namespace: str | None = None) -> Path:
    """Write out_dir/report.html (+ report_files/) for a recording (its `topics` where given: one camera's, and the
    /diagnostics of the nodes under `namespace`: that camera's); returns the HTML path."""
    files = out_dir / "report_files"
    files.mkdir(parents=True, exist_ok=True)
    summary = summarize_run(recording, topics, namespace)
    data = load_run(recording, topics=topics)
    gif_frames = write_annotated_gif(data, pose, files / "annotated.gif")
    metric = any(o.has_kinematics for message in data.tracks.values() for o in message.objects)
    birds_eye_view = '<img src="report_files/birds_eye_view.png">'
    if metric:
        plot_birds_eye_view(data, files / "birds_eye_view.png")
    else:
        reasons = sorted({v["metric_positions"] for v in summary.diagnostics.values() if "metric_positions" in v})
        birds_eye_view = (f"<p><b>No metric positions</b>{': ' + html.escape('; '.join(reasons)) if reasons else ''}. "
                          "Detections, tracks and the camera view are in image space; the bird's-eye view and the "
                          "prediction error need the camera intrinsics: a CameraInfo in the bag, or `perception eval "
                          "--camera-info FILE.yaml` or `--fov DEG`.</p>")
    plot_latency(summary, files / "latency.png")
    records, observations = prediction_records(data), track_observations(data)
    errors = online_errors(records, observations)

    latency_rows = []
    for topic in _outputs_in_pipeline_order(summary):
        p50, p90, p99, top = np.percentile(topic.latencies_ms, [50, 90, 99, 100])
        latency_rows.append([topic.topic, topic.count, f"{p50:.1f}", f"{p90:.1f}", f"{p99:.1f}", f"{top:.1f}"])
    drop_rows = [[node] + [values.get(k, "-") for k in ("frames_received", "frames_processed", "frames_skipped")]
                 + [", ".join(f"{k[9:]}={v}" for k, v in values.items() if k.startswith("rejected.")) or "none"]
                 for node, values in sorted(summary.diagnostics.items())]
    error_rows = [[model, f"{e.ade:.2f}", f"{e.fde:.2f}", e.paths, e.complete_paths] for model, e in sorted(errors.items())]
    range_rows = [[model, label, f"{e.ade:.2f}", f"{e.fde:.2f}", e.paths]
                  for (model, label), e in online_errors_by_range(records, observations).items()]
    sign_node_ran = any(node.endswith(f"/{SIGNS}") for node in summary.diagnostics)
    signs_text, sign_rows = signs_section(data.signs, data.sign_tracks, data.start_ns, sign_node_ran)
    input_frames = sum(s.count for s in summary.topics.values() if s.msgtype in IMAGE_TYPES)
    received = [int(v["frames_received"]) for v in summary.diagnostics.values() if "frames_received" in v]
    lost = f"{input_frames - received[0]} of them never reached the detector (lost in transport); " if received else ""
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:4px 8px;text-align:right}} th{{background:#eee}} img{{max-width:100%}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>Recording: <code>{html.escape(str(recording))}</code>. {input_frames} input frames; {lost}{len(summary.track_ids)} distinct
track ids{"" if metric else "; no metric positions (image space only, see the bird's-eye view)"}.</p>
<h2>Camera view</h2><p>Track boxes with id and class; predicted paths (most probable) projected onto the image
({gif_frames} frames with tracker output).</p><img src="report_files/annotated.gif">
<h2>Bird's-eye view</h2><p>Ground frame: {html.escape(summary.ground_frame_note())}.</p>{birds_eye_view}
<h2>Latency: image stamp to each output</h2>
{_table(["topic", "messages", "p50 ms", "p90 ms", "p99 ms", "max ms"], latency_rows)}
<img src="report_files/latency.png">
<h2>Frames and rejected inputs (from /diagnostics)</h2>
{_table(["node", "frames received", "processed", "skipped (newest-frame policy)", "rejected"], drop_rows)}
<h2>Online prediction error</h2><p>Each predicted path against the positions the tracker reported later for the
same track (in the tracks' ground frame, see above; linear interpolation). ADE over every observed future step;
FDE over the paths whose whole horizon was observed. A path counts for its model within the horizon the model
was trained for; rows "&lt;model&gt; extrapolated" hold the positions beyond it (PredictedPath.model_steps).</p>
{_table(["model", "ADE m", "FDE m", "paths", "complete paths"], error_rows)}
<h3>By range</h3><p>The same errors by the object's distance from the vehicle at the prediction's stamp (far
positions are noisier). In an odom frame the vehicle's position comes from the recording's odometry (interpolated
to the stamp); without odometry the range is unknown.</p>
{_table(["model", "range", "ADE m", "FDE m", "paths"], range_rows)}
<h2>Traffic signs</h2><p>{signs_text}</p>
{_table(SIGN_TRACK_HEADER, sign_rows) if sign_rows else ""}
</body></html>"""
    report = out_dir / "report.html"
    report.write_text(page)
    return report
