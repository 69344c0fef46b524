"""Smart record without GStreamer: DeepStream's event-triggered recordings with a look-back
cache as a session model (:mod:`.smart`), and the ``NvDsSRRecordingInfo`` that ``sr-done``
hands over (:mod:`.info`). The GStreamer side: the file writer (``estuary.gst.recording``) and
the element shell (``estuary.elements.smartrec``, on ``esurisrcbin`` / ``nvurisrcbin``)."""

from estuary.record.info import NvDsSRRecordingInfo, RecordingInfo, recording_info
from estuary.record.smart import Packet, RecordBusy, Session, SmartRecorder, Step, recording_name

__all__ = ["Packet", "RecordBusy", "Session", "SmartRecorder", "Step", "recording_name",
           "NvDsSRRecordingInfo", "RecordingInfo", "recording_info"]
