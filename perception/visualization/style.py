"""One colour per object class, shared by annotated images, markers and plots."""
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
