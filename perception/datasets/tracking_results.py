"""Tracker output as MOTChallenge result rows and KITTI tracking result files."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.datasets.kitti_rig import KittiRig
from perception.tracking.ego_motion import PlanarPose
from perception.types import ObjectClass, Track

CLASS_KITTI_TYPES = {
    ObjectClass.CAR: "Car",
    ObjectClass.TRUCK: "Truck",
    ObjectClass.PEDESTRIAN: "Pedestrian",
    ObjectClass.BICYCLE: "Cyclist",
    ObjectClass.BUS: "Tram",
}


def mot_result_rows(results: list[tuple[int, list[Track]]]) -> np.ndarray:
    """(N, 7) `frame, id, left, top, width, height, score` rows."""
    rows = [
        [number, t.track_id, t.box[0], t.box[1], t.box[2] - t.box[0], t.box[3] - t.box[1], t.score]
        for number, tracks in results
        for t in tracks
    ]
    return np.array(rows, float).reshape(-1, 7)


def write_kitti_results(path: str | Path, results: list[tuple[int, list[Track]]], image_size: tuple[int, int],
                        rig: KittiRig | None = None, odom_from_vehicle: np.ndarray | None = None) -> None:
    """KITTI tracking result lines; with a rig, the ground position fills the location (camera coordinates of the
    frame; positions in the odom frame are moved back with the frame's pose from odom_from_vehicle). Boxes are
    clipped to the image of `image_size` (width, height: KITTI's differ by recording day); a coasting track whose
    predicted box has left the image is not written (not in view)."""
    width, height = image_size
    with open(path, "w") as file:
        for number, tracks in results:
            for t in tracks:
                left, top, right, bottom = np.clip(t.box, 0, [width, height, width, height])
                if right <= left or bottom <= top:
                    continue
                location = np.full(3, -1000.0)
                if rig is not None and t.ground is not None:
                    position = t.ground.position[None]
                    if odom_from_vehicle is not None:
                        position = PlanarPose.from_matrix(odom_from_vehicle[number]).to_vehicle(position)
                    location = rig.to_rect(np.append(position[0], 0.0)[None])[0]
                file.write(
                    f"{number} {t.track_id} {CLASS_KITTI_TYPES.get(t.label, 'Misc')} -1 -1 -10 "
                    f"{left:.2f} {top:.2f} {right:.2f} {bottom:.2f} -1 -1 -1 "
                    f"{location[0]:.3f} {location[1]:.3f} {location[2]:.3f} -10 {t.score:.4f}\n"
                )
