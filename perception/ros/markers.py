"""RViz markers for predicted objects: ground boxes by class, id/class text, paths fading with time (the part
beyond the model's trained horizon, PredictedPath.model_steps, at half the opacity); and for tracked traffic signs:
a plate on a post at the sign's position, coloured by category, with its id and type."""
from __future__ import annotations

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from perception.msg import PredictedObjects, TrackedObjects
from perception.signs.gtsdb import sign_category
from perception.types import ObjectClass
from perception.visualization.style import CLASS_COLORS, CLASS_SIZES

MAX_PATHS_PER_OBJECT = 8
EXTRAPOLATED_OPACITY = 0.5  # relative opacity of path positions past the model's trained horizon
NAMESPACES = ("objects", "labels", "paths")
SIGN_NAMESPACES = ("signs", "sign_labels")
SIGN_HEIGHT = 2.0  # m above the ground where a sign plate is drawn (its height is not estimated)
SIGN_CATEGORY_COLORS = {"prohibitory": (0.9, 0.1, 0.1), "danger": (1.0, 0.6, 0.0), "mandatory": (0.1, 0.3, 0.9),
                        "other": (0.9, 0.9, 0.9)}


def _label(obj) -> ObjectClass:
    return ObjectClass(obj.classification[0].label) if obj.classification else ObjectClass.UNKNOWN


def _color(label: ObjectClass, alpha: float) -> ColorRGBA:
    r, g, b = CLASS_COLORS[label]
    return ColorRGBA(r=r, g=g, b=b, a=alpha)


def _marker_id(track_id: int, index: int = 0) -> int:
    return (track_id % (2**31 // MAX_PATHS_PER_OBJECT)) * MAX_PATHS_PER_OBJECT + index


def _text(header, namespace: str, track_id: int, text: str, position: Point, size: float) -> Marker:
    """White text facing the viewer, `size` metres high."""
    marker = Marker(header=header, ns=namespace, id=_marker_id(track_id), type=Marker.TEXT_VIEW_FACING,
                    action=Marker.ADD, color=ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0), text=text)
    marker.pose.position = position
    marker.pose.orientation.w = 1.0
    marker.scale.z = size
    return marker


class _VanishingMarkers:
    """Keeps the markers of the previous message, so that those of vanished objects get a DELETE."""

    def __init__(self) -> None:
        self._previous: set[tuple[str, int]] = set()

    def _with_deletions(self, header, markers: list[Marker]) -> MarkerArray:
        current = {(m.ns, m.id) for m in markers}
        for namespace, marker_id in sorted(self._previous - current):
            markers.append(Marker(header=header, ns=namespace, id=marker_id, action=Marker.DELETE))
        self._previous = current
        return MarkerArray(markers=markers)


class MarkerBuilder(_VanishingMarkers):
    """Builds one MarkerArray per PredictedObjects message, deleting the markers of vanished objects."""

    def build(self, message: PredictedObjects) -> MarkerArray:
        header = message.header  # frame_id: the frame of the positions
        markers: list[Marker] = []
        for obj in message.objects:
            label = _label(obj)
            length, width, height = CLASS_SIZES[label]
            box = Marker(header=header, ns="objects", id=_marker_id(obj.track_id), type=Marker.CUBE,
                         action=Marker.ADD, color=_color(label, 0.8), lifetime=Duration())
            box.pose.position = Point(x=obj.position.x, y=obj.position.y, z=height / 2)
            box.pose.orientation.w = 1.0
            box.scale.x, box.scale.y, box.scale.z = length, width, height
            speed_kmh = 3.6 * (obj.velocity.x ** 2 + obj.velocity.y ** 2) ** 0.5
            text = _text(header, "labels", obj.track_id, f"#{obj.track_id} {label.name.lower()} {speed_kmh:.0f} km/h",
                         Point(x=obj.position.x, y=obj.position.y, z=height + 0.6), 0.6)
            markers += [box, text]
            for index, path in enumerate(obj.paths[:MAX_PATHS_PER_OBJECT]):
                strip = Marker(header=header, ns="paths", id=_marker_id(obj.track_id, index), type=Marker.LINE_STRIP,
                               action=Marker.ADD)
                strip.pose.orientation.w = 1.0
                strip.scale.x = 0.15
                strip.points = [Point(x=obj.position.x, y=obj.position.y, z=0.1)] + [
                    Point(x=p.x, y=p.y, z=0.1) for p in path.positions]
                steps = len(strip.points)
                # Fades with time ahead, scaled by the path's confidence; point k is the k-th predicted position.
                strip.colors = [_color(label, max(0.1, path.confidence * (1.0 - k / steps)
                                                  * (EXTRAPOLATED_OPACITY if k > path.model_steps else 1.0)))
                                for k in range(steps)]
                markers.append(strip)
        return self._with_deletions(header, markers)


class SignMarkerBuilder(_VanishingMarkers):
    """Builds one MarkerArray per sign TrackedObjects message (signs with a position only), deleting the markers
    of vanished signs."""

    def build(self, message: TrackedObjects) -> MarkerArray:
        header = message.header  # frame_id: the frame of the positions
        markers: list[Marker] = []
        for obj in message.objects:
            if not obj.has_kinematics or obj.sign_class_id < 0:
                continue
            r, g, b = SIGN_CATEGORY_COLORS[sign_category(obj.sign_class_id)]
            plate = Marker(header=header, ns="signs", id=_marker_id(obj.track_id), type=Marker.CYLINDER,
                           action=Marker.ADD, color=ColorRGBA(r=r, g=g, b=b, a=0.9), lifetime=Duration())
            plate.pose.position = Point(x=obj.position.x, y=obj.position.y, z=SIGN_HEIGHT)
            plate.pose.orientation.y = plate.pose.orientation.w = 0.5 ** 0.5  # the disc faces along x
            plate.scale.x, plate.scale.y, plate.scale.z = 0.65, 0.65, 0.05
            text = _text(header, "sign_labels", obj.track_id, f"#{obj.track_id} {obj.sign_name}",
                         Point(x=obj.position.x, y=obj.position.y, z=SIGN_HEIGHT + 0.8), 0.5)
            markers += [plate, text]
        return self._with_deletions(header, markers)
