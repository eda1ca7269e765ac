"""One report for a fleet evaluation (no ROS): a row per bag and camera, totals, summary.json and report.html."""
from __future__ import annotations

import html
import json
import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from perception.types import ObjectClass

if TYPE_CHECKING:
    from perception.evaluation.ground_truth import CameraOutputs

STAGES = {"perception/msg/DetectedObjects": "detections", "perception/msg/TrackedObjects": "tracks",
          "perception/msg/PredictedObjects": "predictions"}


@dataclass
class BagRow:
    bag: str
    stream: str  # output folder name (bag, and camera where the bag has several)
    error: str | None = None
    recording: str | None = None
    frames: int = 0
    detections: dict[str, int] = field(default_factory=dict)  # per class
    tracks: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # inputs not processed, by reason (its nodes' statuses)
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> p50 / p95 (CPU time)
    prediction_error: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> ade, fde, paths, complete
    ground_truth: dict[str, Any] | None = None  # ap (per class, %), tracking (per class: hota, mota, idf1)
    latencies: dict[str, list[float]] = field(default_factory=dict, repr=False)  # pooled for the totals
    attempts: int = 1  # runs of the bag in a fleet evaluation (more: its worker or node died; run again whole)


def bag_row(bag: Path, stream: str, recording: Path, outputs: CameraOutputs, ground_truth: Path | None = None,
            gt_format: str | None = None, topics: list[str] | None = None, namespace: str | None = None) -> BagRow:
    """The row of one recording of a fleet run (made where the bag was evaluated: a fleet worker), of its `topics`
    and the statuses of its nodes under `namespace` where given (one camera's of a recording of several);
    `outputs`: that camera's detections and tracks topics (offline.scored_topics)."""
    # The scoring's imports (TrackEval) stay out of the modules a fleet driver needs for the rows; none of them
    # plots (a worker that imported matplotlib for its first row spent about 1.2 s of CPU on it).
    from perception.evaluation.ground_truth import ground_truth_scores, recorded_frames
    from perception.evaluation.online_prediction import online_errors
    from perception.evaluation.recorded_run import load_run, prediction_records, track_observations
    from perception.evaluation.run_summary import summarize_run

    summary = summarize_run(recording, topics, namespace)
    stamps, detections, _ = recorded_frames(recording, outputs, topics)
    labels = Counter(ObjectClass(int(label)).name.lower() for frame in detections.values() for label in frame.labels)
    latencies = {STAGES[t.msgtype]: t.latencies_ms for t in summary.topics.values() if t.msgtype in STAGES}
    data = load_run(recording, images=False, topics=topics)
    errors = online_errors(prediction_records(data), track_observations(data))
    row = BagRow(str(bag), stream, recording=str(recording), frames=len(stamps),
                 detections=dict(sorted(labels.items())), tracks=len(summary.track_ids),
                 rejected=summary.rejections(), latencies=latencies,
                 latency_ms={stage: _percentiles(values) for stage, values in latencies.items()},
                 prediction_error={model: {"ade": e.ade, "fde": e.fde, "paths": e.paths,
                                           "complete_paths": e.complete_paths} for model, e in sorted(errors.items())})
    if ground_truth is not None:
        ap, scores = ground_truth_scores(recording, ground_truth, gt_format, outputs, topics)
        row.ground_truth = {
            "source": str(ground_truth),
            "ap": {ObjectClass(label).name.lower(): 100 * value for label, value in sorted(ap.items())},
            "tracking": {name: {"hota": s.hota, "mota": s.mota, "idf1": s.idf1, "id_switches": s.id_switches}
                         for name, s in scores.items()}}
    return row


def _percentiles(values: list[float]) -> dict[str, float]:
    p50, p95 = np.percentile(values, [50, 95]) if values else (math.nan, math.nan)
    return {"p50": float(p50), "p95": float(p95)}


def totals(rows: list[BagRow]) -> dict[str, Any]:
    """Sums over the bags; latency percentiles over all frames; prediction errors weighted by paths (ADE) and
    complete paths (FDE)."""
    good = [row for row in rows if row.error is None]
    detections: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for row in good:
        detections.update(row.detections)
        rejected.update(row.rejected)
    stages = sorted({stage for row in good for stage in row.latencies})
    errors = {}
    for model in sorted({m for row in good for m in row.prediction_error}):
        parts = [row.prediction_error[model] for row in good if model in row.prediction_error]
        paths, complete = sum(p["paths"] for p in parts), sum(p["complete_paths"] for p in parts)
        errors[model] = {
            "ade": sum(p["ade"] * p["paths"] for p in parts) / paths if paths else math.nan,
            "fde": sum(p["fde"] * p["complete_paths"] for p in parts if p["complete_paths"]) / complete
            if complete else math.nan, "paths": paths, "complete_paths": complete}
    return {"bags": len({row.bag for row in rows}), "streams": len(rows), "failed": len(rows) - len(good),
            "frames": sum(row.frames for row in good), "detections": dict(sorted(detections.items())),
            "tracks": sum(row.tracks for row in good), "rejected": dict(sorted(rejected.items())),
            "latency_ms": {stage: _percentiles([v for row in good for v in row.latencies.get(stage, [])])
                           for stage in stages},
            "prediction_error": errors}


def _json_safe(value: Any) -> Any:
    """NaN (no complete path, no latency) as null: strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def write_summary(rows: list[BagRow], run: dict[str, Any], out: Path) -> Path:
    """out/summary.json: the run, every row (without raw latencies) and the totals."""
    document = {"run": run, "bags": [{k: v for k, v in asdict(row).items() if k != "latencies"} for row in rows],
                "totals": totals(rows)}
    path = out / "summary.json"
    path.write_text(json.dumps(_json_safe(document), indent=2))
    return path


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _cells(frames: int, detections: dict[str, int], tracks: int, rejected: dict[str, int], latency: dict,
           errors: dict, truth: dict | None) -> list[str]:
    model = next((m for m in ("rnn", "constant_velocity", "constant_velocity_fallback") if m in errors), None)
    error = errors.get(model, {})
    ap = ", ".join(f"{k} {v:.1f}" for k, v in (truth or {}).get("ap", {}).items())
    hota = ", ".join(f"{k} {_number(v['hota'])}" for k, v in (truth or {}).get("tracking", {}).items())
    return [str(frames), ", ".join(f"{k} {v}" for k, v in detections.items()) or "none", str(tracks),
            ", ".join(f"{k} {v}" for k, v in rejected.items()) or "none",
            *(f"{_number(latency.get(s, {}).get('p50'))} / {_number(latency.get(s, {}).get('p95'))}"
              for s in ("detections", "tracks", "predictions")),
            f"{model or '-'}: {_number(error.get('ade'), 2)} / {_number(error.get('fde'), 2)}", ap or "-", hota or "-"]


def write_fleet_report(rows: list[BagRow], run: dict[str, Any], out: Path) -> Path:
    """out/report.html: a row per bag (and camera), failed bags with their reason, the totals."""
    header = ["bag", "frames", "detections per class", "tracks", "inputs rejected", "detect ms p50 / p95",
              "track ms p50 / p95", "predict ms p50 / p95", "ADE / FDE m (online)", "AP@0.5 %", "HOTA"]
    body = []
    for row in rows:
        if row.error is not None:
            body.append(f'<tr class="failed"><td>{html.escape(row.stream)}</td>'
                        f'<td colspan="{len(header) - 1}">failed: {html.escape(row.error)}</td></tr>')
            continue
        retried = f" (run {row.attempts} times: its worker died)" if row.attempts > 1 else ""
        link = Path(os.path.relpath(row.recording, out)).as_posix()  # the bag's recording (all its cameras)
        cells = [f'<a href="{html.escape(link)}">{html.escape(row.stream)}</a>{html.escape(retried)}',
                 *map(html.escape, _cells(row.frames, row.detections, row.tracks, row.rejected, row.latency_ms,
                                          row.prediction_error, row.ground_truth))]
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    total = totals(rows)
    cells = _cells(total["frames"], total["detections"], total["tracks"], total["rejected"], total["latency_ms"],
                   total["prediction_error"], None)
    body.append(f"<tr><th>all {total['streams'] - total['failed']} of {total['streams']}</th>"
                + "".join(f"<th>{html.escape(cell)}</th>" for cell in cells) + "</tr>")
    run_line = ", ".join(f"{k}: {v}" for k, v in run.items())
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>perception fleet evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 8px;text-align:right}} th{{background:#eee}} tr.failed td{{color:#a00}}</style>
</head><body><h1>perception fleet evaluation: {total['bags']} bags</h1>
<p>{html.escape(run_line)}</p>
<p>Latency: CPU time from the start of decoding to each output (the offline mode's measure), percentiles over
the bag's frames (totals: over all frames). ADE / FDE: each predicted path against the positions the tracker
reported later for the same track (rows "model: ADE / FDE"; totals weighted by paths). AP and HOTA where ground
truth was given (--gt-dir). Each bag's recording opens in Foxglove.</p>
<table><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in header)}</tr>{"".join(body)}</table></body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
