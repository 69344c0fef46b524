"""One fleet over many hosts, coordinated by Kafka alone.

* ``cameras`` (compacted): one record per camera, key = camera id, value = JSON
  ``{"uri": ..., "profile": ...}``; a tombstone (empty value) removes the camera.
* Workers (:class:`estuary.fleet.worker.Worker`, ``estuary fleet worker``) join one consumer group
  on ``cameras`` with the cooperative-sticky assignor: the partitions the group gives a worker are
  its cameras. On assignment it reads those partitions to their end, then adds their cameras to its
  running pipeline (:mod:`estuary.fleet.table`: exact hand-over); on revocation it removes them
  (runtime add/remove: the other cameras never stop). A worker that dies stops heartbeating; after
  the group's session timeout its partitions go to the others. ``fleet add`` places each camera on
  the worker with the least total cost, ``fleet balance`` moves cameras back within the bound
  after membership changes (:mod:`estuary.fleet.placement`, :mod:`estuary.fleet.admin`).
* ``events``: what the pipelines produce, keyed by camera id.
* ``status``: each worker's heartbeat (cameras, frames, fps) every second; ``estuary fleet status``
  aggregates it.
"""

from estuary.fleet.topics import CAMERAS, EVENTS, STATUS, Camera

__all__ = ["CAMERAS", "EVENTS", "STATUS", "Camera"]
