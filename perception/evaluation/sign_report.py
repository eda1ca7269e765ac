"""The report's "Traffic signs" section (no ROS): the sign node's detections by type and the tracker's sign tracks."""
from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass

from perception.stamps import header_stamp_ns

SIGNS, SIGN_TRACKS = "signs", "sign_tracks"  # topic names in a camera's namespace
SIGN_TRACK_HEADER = ["track id", "type", "frames seen (max hits)", "first s", "last s", "last position x, y (m)",
                     "ground frame"]
SIGN_NODE_OFF = ("The sign node was off (no signs in this recording): enable it with <code>enabled: true</code> under "
                 "nodes.signs in config/perception.yaml; it runs in the live graph (<code>perception demo</code>, "
                 "<code>perception eval --mode live</code>), not in the offline mode.")


def sign_topic(topic: str) -> str | None:
    """SIGNS or SIGN_TRACKS when the topic is a camera's signs or sign_tracks, else None."""
    name = topic.rsplit("/", 1)[-1]
    return name if name in (SIGNS, SIGN_TRACKS) else None


@dataclass
class SignTrack:
    """One sign track over the sign_tracks messages it appears in."""

    type_name: str  # the type its detections voted for, as of its last message
    hits: int  # frames in which it was matched to a sign (max over its messages)
    first_ns: int
    last_ns: int
    position: tuple[float, float] | None = None  # the last position it had kinematics for
    ground_frame: str = ""


def sign_track_table(messages: list[tuple[str, object]]) -> dict[tuple[str, int], SignTrack]:
    """(topic, track id) -> SignTrack, from (topic, TrackedObjects) sign_tracks messages."""
    tracks: dict[tuple[str, int], SignTrack] = {}
    for topic, message in sorted(messages, key=lambda item: header_stamp_ns(item[1].header)):
        stamp = header_stamp_ns(message.header)
        for obj in message.objects:
            track = tracks.setdefault((topic, obj.track_id), SignTrack(obj.sign_name, obj.hits, stamp, stamp))
            track.type_name, track.hits, track.last_ns = obj.sign_name, max(track.hits, obj.hits), stamp
            if obj.has_kinematics:
                track.position, track.ground_frame = (obj.position.x, obj.position.y), message.header.frame_id
    return tracks


def signs_section(signs: list[tuple[str, object]], sign_tracks: list[tuple[str, object]], start_ns: int,
                  sign_node_ran: bool) -> tuple[str, list[list[str]]]:
    """The section's paragraph (HTML) and its sign track rows, from (topic, message) lists of a recording's signs
    (DetectedObjects) and sign_tracks (TrackedObjects); times in seconds from start_ns (the recording's start)."""
    if not signs and not sign_tracks:
        if sign_node_ran:
            return ("The sign node ran (see its row under Frames and rejected inputs) but published no signs in "
                    "this recording."), []
        return SIGN_NODE_OFF, []
    by_type = Counter(obj.sign_name for _, message in signs for obj in message.objects)
    types = ", ".join(f"{name}: {count}" for name, count in sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0])))
    topics = ", ".join(sorted({topic for topic, _ in signs + sign_tracks}))
    text = (f"The sign node processed {len(signs)} frames; {sum(by_type.values())} signs detected (one per sign and "
            f"frame) by type: {types or 'none'}. Topics: {topics}.")
    tracks = sign_track_table(sign_tracks)
    if not sign_tracks:
        text += " No sign_tracks in the recording (the tracker's track_signs is off)."
    else:
        text += (f" {len(tracks)} sign tracks, each with the type its detections voted for; times in seconds from "
                 "the recording's start:")
    rows = [[track_id, track.type_name, track.hits, f"{(track.first_ns - start_ns) / 1e9:.2f}",
             f"{(track.last_ns - start_ns) / 1e9:.2f}",
             "-" if track.position is None else f"{track.position[0]:.1f}, {track.position[1]:.1f}",
             track.ground_frame or "-"]
            for (_, track_id), track in sorted(tracks.items())]
    return html.escape(text), rows
