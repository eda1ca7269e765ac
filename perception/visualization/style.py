"""Per-class colours and typical sizes, shared by annotated images, RViz markers and plots."""
from __future__ import annotations

from perception.types import ObjectClass

# RGB in [0, 1]
CLASS_COLORS: dict[ObjectClass, tuple[float, float, float]] = {
    ObjectClass.UNKNOWN: (0.6, 0.6, 0.6),
    ObjectClass.PEDESTRIAN: (1.0, 0.2, 0.2),
    ObjectClass.BICYCLE: (1.0, 0.6, 0.0),
    ObjectClass.CAR: (0.1, 0.6, 1.0),
    ObjectClass.TRUCK: (0.2, 0.3, 0.9),
    ObjectClass.BUS: (0.5, 0.2, 0.9),
    ObjectClass.MOTORCYCLE: (1.0, 0.9, 0.0),
    ObjectClass.TRAFFIC_LIGHT: (0.1, 0.9, 0.3),
    ObjectClass.TRAFFIC_SIGN: (0.9, 0.1, 0.7),
}


def class_color_bgr255(label: int) -> tuple[int, int, int]:
    r, g, b = CLASS_COLORS.get(ObjectClass(label), CLASS_COLORS[ObjectClass.UNKNOWN])
    return int(b * 255), int(g * 255), int(r * 255)


# Typical length, width, height in metres, for drawing ground-plane boxes.
CLASS_SIZES: dict[ObjectClass, tuple[float, float, float]] = {
    ObjectClass.UNKNOWN: (1.0, 1.0, 1.0),
    ObjectClass.PEDESTRIAN: (0.6, 0.6, 1.7),
    ObjectClass.BICYCLE: (1.8, 0.6, 1.6),
    ObjectClass.CAR: (4.5, 1.8, 1.5),
    ObjectClass.TRUCK: (8.0, 2.5, 3.2),
    ObjectClass.BUS: (12.0, 2.6, 3.2),
    ObjectClass.MOTORCYCLE: (2.0, 0.8, 1.5),
    ObjectClass.TRAFFIC_LIGHT: (0.4, 0.4, 1.0),
    ObjectClass.TRAFFIC_SIGN: (0.1, 0.8, 0.8),
}
