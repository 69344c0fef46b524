"""Multi-object tracking, engine-free: IOU, SORT-style (Kalman + Hungarian) and
ByteTrack-style (two-stage association) trackers behind one class."""

from estuary.track.config import TrackerConfig, load_tracker_config
from estuary.track.tracker import MultiObjectTracker, TrackOutput

__all__ = ["TrackerConfig", "load_tracker_config", "MultiObjectTracker", "TrackOutput"]
