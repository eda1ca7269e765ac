"""GTSDB/GTSRB facts: the 43 class names and their four categories (the files: perception.datasets.gtsdb)."""
from __future__ import annotations

# Class id -> (name, category), as in GTSDB's ReadMe.txt.
SIGN_CLASSES: tuple[tuple[str, str], ...] = (
    ("speed limit 20", "prohibitory"), ("speed limit 30", "prohibitory"), ("speed limit 50", "prohibitory"),
    ("speed limit 60", "prohibitory"), ("speed limit 70", "prohibitory"), ("speed limit 80", "prohibitory"),
    ("restriction ends 80", "other"), ("speed limit 100", "prohibitory"), ("speed limit 120", "prohibitory"),
    ("no overtaking", "prohibitory"), ("no overtaking (trucks)", "prohibitory"),
    ("priority at next intersection", "danger"), ("priority road", "other"), ("give way", "other"),
    ("stop", "other"), ("no traffic both ways", "prohibitory"), ("no trucks", "prohibitory"),
    ("no entry", "other"), ("danger", "danger"), ("bend left", "danger"), ("bend right", "danger"),
    ("bend", "danger"), ("uneven road", "danger"), ("slippery road", "danger"), ("road narrows", "danger"),
    ("construction", "danger"), ("traffic signal", "danger"), ("pedestrian crossing", "danger"),
    ("school crossing", "danger"), ("cycles crossing", "danger"), ("snow", "danger"), ("animals", "danger"),
    ("restriction ends", "other"), ("go right", "mandatory"), ("go left", "mandatory"),
    ("go straight", "mandatory"), ("go right or straight", "mandatory"), ("go left or straight", "mandatory"),
    ("keep right", "mandatory"), ("keep left", "mandatory"), ("roundabout", "mandatory"),
    ("restriction ends (overtaking)", "other"), ("restriction ends (overtaking (trucks))", "other"),
)
NUM_CLASSES = len(SIGN_CLASSES)
CATEGORIES = ("prohibitory", "danger", "mandatory", "other")
# GTSDB frames are 1360 px wide and their signs 16-128 px: the sign detector sees them at native resolution.
DEFAULT_IMGSZ = 1376


def sign_name(class_id: int) -> str:
    """The class's name; "" for -1 (no sign class)."""
    if class_id == -1:
        return ""
    if not 0 <= class_id < len(SIGN_CLASSES):
        raise ValueError(f"sign class id {class_id} is not a GTSDB class (0-{len(SIGN_CLASSES) - 1})")
    return SIGN_CLASSES[class_id][0]


def sign_category(class_id: int) -> str:
    return SIGN_CLASSES[class_id][1]
