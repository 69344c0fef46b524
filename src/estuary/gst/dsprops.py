"""The GObject properties of DeepStream 7.1's elements: one table that our aliases are built from.

Every property below exists on the Estuary element registered under that DeepStream name, with
DeepStream's name, GType and default (``ElementBase`` applies the table when the class is
created). A property the element implements keeps its own behaviour and range checks; one it
does not gets a generated property that validates the value (type and range) and is documented,
in ``gst-inspect-1.0`` and in docs/ds-properties.md, as having no effect here (GPU selection,
NVIDIA memory and scaling engines, Jetson hardware). Derived from shared/spec/ds-element-properties.md
(SDK 6.3 sources, 7.1 gst-inspect dumps, the plugin guide); ``?`` marks a default the sources do
not confirm, which is then not checked. Where our default must differ from DeepStream's, the
reason is in :data:`DEVIATIONS`.

Column ``type``: bool, int, uint, int64, uint64, string, pointer, or an enum name from
:data:`ENUMS`; an optional ``[lo,hi]`` range; `` (read-only)`` at the end for a property apps
only read. Strings: DeepStream's NULL and "" defaults are
both "unset"; Estuary uses "" so element code needs no None checks. Column ``note``: why the
property has no effect here (used only when the element does not implement it).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DsProp", "ENUMS", "TABLE", "DEVIATIONS", "TYPE_DEVIATIONS", "elements", "type_range", "properties_for", "G_MAXUINT", "G_MAXINT"]

G_MAXINT = 2**31 - 1
G_MAXUINT = 2**32 - 1
G_MAXUINT64 = 2**64 - 1

#: enum type name → (value, name, nick) rows, as DeepStream registers them
ENUMS: dict[str, tuple[tuple[int, str, str], ...]] = {
    "GstNvBufMemoryType": ((0, "Specified by the Device Type", "nvbuf-mem-default"),
                           (1, "Host Pinned Memory", "nvbuf-mem-cuda-pinned"),
                           (2, "Device Memory", "nvbuf-mem-cuda-device"),
                           (3, "Unified Memory", "nvbuf-mem-cuda-unified"),
                           (4, "Surface Array (Jetson)", "nvbuf-mem-surface-array")),
    "GstNvComputeHWType": ((0, "Default, GPU for Tesla, VIC for Jetson", "Default"),
                           (1, "GPU", "GPU"), (2, "VIC (Jetson)", "VIC")),
    "GstNvInterpolationMethod": ((0, "Nearest", "Nearest"), (1, "Bilinear", "Bilinear"),
                                 (2, "GPU-Cubic/VIC-5 Tap", "Algo-1"),
                                 (3, "GPU-Super/VIC-10 Tap", "Algo-2"),
                                 (4, "GPU-Lanczos/VIC-Smart", "Algo-3"),
                                 (5, "GPU-Ignored/VIC-Nicest", "Algo-4"),
                                 (6, "GPU-Nearest/VIC-Nearest", "Default")),
    "GstNvInferProcessModeType": ((1, "Primary (Full Frame)", "primary"),
                                  (2, "Secondary (Objects)", "secondary")),
    "GstNvDsOsdMode": ((0, "CPU_MODE", "CPU_MODE"), (1, "GPU_MODE", "GPU_MODE"),
                       (2, "NONE (falls back to GPU)", "MODE_NONE")),
    "GstNvDsVideoFlipMethod": ((0, "Identity (no rotation)", "none"),
                               (1, "Rotate counter-clockwise 90 degrees", "counterclockwise"),
                               (2, "Rotate 180 degrees", "rotate-180"),
                               (3, "Rotate clockwise 90 degrees", "clockwise"),
                               (4, "Flip horizontally", "horizontal-flip"),
                               (5, "Flip across upper right/lower left diagonal", "upper-right-diagonal"),
                               (6, "Flip vertically", "vertical-flip"),
                               (7, "Flip across upper left/lower right diagonal", "upper-left-diagonal")),
    "GstNvV4l2DecCudaDecMemType": ((0, "Memory type Device", "memtype_device"),
                                   (1, "Memory type Host Pinned", "memtype_pinned"),
                                   (2, "Memory type Unified", "memtype_unified")),
    "GstNvV4l2DecSkipFrames": ((0, "Decode all frames", "decode_all"),
                               (1, "Decode non-ref frames", "decode_non_ref"),
                               (2, "Decode key frames", "decode_key")),
    "GstNvMsgConvPayloadType": ((0, "Deepstream schema payload", "PAYLOAD_DEEPSTREAM"),
                                (1, "Deepstream schema payload minimal", "PAYLOAD_DEEPSTREAM_MINIMAL"),
                                (2, "Deepstream schema protobuf payload", "PAYLOAD_DEEPSTREAM_PROTOBUF"),
                                (256, "Reserved type", "PAYLOAD_RESERVED"),
                                (257, "Custom schema payload", "PAYLOAD_CUSTOM")),
    "GstV4l2VideoEncRateControlType": ((0, "Variable bit rate", "variable_bitrate"),
                                       (1, "Constant bit rate", "constant_bitrate")),
    "GstV4l2VideoEncProfileType": ((0, "GST_V4L2_H264_VIDENC_BASELINE_PROFILE", "Baseline"),
                                   (2, "GST_V4L2_H264_VIDENC_MAIN_PROFILE", "Main"),
                                   (4, "GST_V4L2_H264_VIDENC_HIGH_PROFILE", "High"),
                                   (7, "GST_V4L2_H264_VIDENC_HIGH_444_PREDICTIVE", "High444")),
    "GstV4l2H265VideoEncProfileType": ((0, "GST_V4L2_H265_VIDENC_MAIN_PROFILE", "Main"),
                                       (1, "GST_V4L2_H265_VIDENC_MAIN10_PROFILE", "Main10")),
    "GstV4L2VideoEncHwPreset": ((0, "Disable HW-Preset", "DisablePreset"),
                                (1, "UltraFastPreset for high perf", "UltraFastPreset"),
                                (2, "FastPreset", "FastPreset"), (3, "MediumPreset", "MediumPreset"),
                                (4, "SlowPreset", "SlowPreset")),
    "GstNvSourceType": ((0, "auto", "auto"), (1, "uri", "uri"), (2, "rtsp", "rtsp")),
    "GstNvRtspProtocol": ((0, "UDP + UDP Multicast + TCP", "rtp-multi"), (4, "TCP", "rtp-tcp")),
    "GstNvSmartRecordType": ((0, "Disable", "disable"), (1, "Trigger by cloud messages", "cloud"),
                             (2, "Trigger by cloud and local events", "multi")),
    "GstNvSmartRecContainer": ((0, "MP4 container", "mp4"), (1, "MKV container", "mkv")),
    "GstNvSmartRecMode": ((0, "Record audio and video", "audio-video"), (1, "Record video only", "video"),
                          (2, "Record audio only", "audio")),
}

_GPU = "this element works where its input surfaces are (the CPU, or the GPU nvstreammux's gpu-id chose)"
_MEM = "surfaces are in system memory on the CPU and in CUDA device memory on a GPU"
_HW = "no VIC engine here; scaling is done by OpenCV (CPU) or CUDA"
_INTERP = "scaling uses bilinear (CPU) or the CUDA resize"
_JETSON = "Jetson only"

# element | property | type | default | note (why it has no effect here, if not implemented)
TABLE = f"""
nvstreammux | batch-size | uint[0,1024] | 0 |
nvstreammux | batched-push-timeout | int[-1,{G_MAXINT}] | -1 |
nvstreammux | width | uint | 0 |
nvstreammux | height | uint | 0 |
nvstreammux | enable-padding | bool | false |
nvstreammux | gpu-id | uint | 0 | {_GPU}
nvstreammux | live-source | bool | false |
nvstreammux | num-surfaces-per-frame | uint[1,4] | 1 |
nvstreammux | nvbuf-memory-type | GstNvBufMemoryType | 0 | {_MEM}
nvstreammux | buffer-pool-size | uint[4,1024] | 4 | output buffers are allocated per batch
nvstreammux | compute-hw | GstNvComputeHWType | 0 | {_HW}
nvstreammux | interpolation-method | GstNvInterpolationMethod | 1 | {_INTERP}
nvstreammux | attach-sys-ts | bool | true |
nvstreammux | sync-inputs | bool | false | inputs are batched in arrival order
nvstreammux | max-latency | uint | 0 | no extra live latency is added
nvstreammux | frame-duration | uint64 | {G_MAXUINT64} | NTP timestamps come from the system clock
nvstreammux | frame-num-reset-on-eos | bool | false |
nvstreammux | frame-num-reset-on-stream-reset | bool | false |
nvstreammux | async-process | bool | true | input is processed on the streaming threads
nvstreammux | drop-pipeline-eos | bool | false | EOS is forwarded when every input ended
nvinfer | unique-id | uint | 15 |
nvinfer | process-mode | GstNvInferProcessModeType | 1 |
nvinfer | config-file-path | string | "" |
nvinfer | batch-size | uint[1,1024] | 1 |
nvinfer | interval | uint[0,{G_MAXINT}] | 0 |
nvinfer | infer-on-gie-id | int[-1,{G_MAXINT}] | -1 |
nvinfer | infer-on-class-ids | string | "" |
nvinfer | filter-out-class-ids | string | "" |
nvinfer | model-engine-file | string | "" |
nvinfer | gpu-id | uint | 0 | {_GPU}
nvinfer | raw-output-file-write | bool | false |
nvinfer | raw-output-generated-callback | pointer | ? | C callbacks cannot be set from Python; read tensor meta in a probe
nvinfer | raw-output-generated-userdata | pointer | ? | C callbacks cannot be set from Python; read tensor meta in a probe
nvinfer | output-tensor-meta | bool | false |
nvinfer | output-instance-mask | bool | false |
nvinfer | input-tensor-meta | bool | false |
nvinfer | clip-object-outside-roi | bool | true | objects are not clipped to nvdspreprocess ROIs
nvinfer | crop-objects-to-roi-boundary | bool | false | objects are not cropped to nvdspreprocess ROIs
nvinferserver | unique-id | uint | 0 |
nvinferserver | process-mode | uint[0,2] | 0 |
nvinferserver | config-file-path | string | "" |
nvinferserver | batch-size | uint[0,1024] | 0 |
nvinferserver | infer-on-gie-id | int[-1,{G_MAXINT}] | -1 |
nvinferserver | infer-on-class-ids | string | "" |
nvinferserver | interval | uint[0,{G_MAXINT}] | 0 |
nvinferserver | input-tensor-meta | bool | false |
nvinferserver | raw-output-generated-callback | pointer | ? | C callbacks cannot be set from Python; read tensor meta in a probe
nvinferserver | raw-output-generated-userdata | pointer | ? | C callbacks cannot be set from Python; read tensor meta in a probe
nvtracker | tracker-width | uint | 960 | the tracker works on box coordinates at the muxer's resolution
nvtracker | tracker-height | uint | 544 | the tracker works on box coordinates at the muxer's resolution
nvtracker | gpu-id | uint | 0 | {_GPU}
nvtracker | ll-lib-file | string | "" |
nvtracker | ll-config-file | string | "" |
nvtracker | display-tracking-id | bool | true |
nvtracker | tracking-id-reset-mode | uint[0,3] | 1 | ids are kept on stream reset and EOS
nvtracker | tracking-surface-type | uint[0,2] | 0 | every surface type is tracked
nvtracker | input-tensor-meta | bool | false | the tracker reads no tensors
nvtracker | tensor-meta-gie-id | uint | 0 | the tracker reads no tensors
nvtracker | compute-hw | GstNvComputeHWType | 0 | {_HW}
nvtracker | user-meta-pool-size | uint[1,{G_MAXUINT}] | 16 | user meta is allocated as needed
nvtracker | sub-batches | string | ? | every source is tracked in one batch
nvdsosd | display-text | bool | true |
nvdsosd | display-bbox | bool | true |
nvdsosd | display-mask | bool | false |
nvdsosd | display-clock | bool | false |
nvdsosd | clock-font | string | "" |
nvdsosd | clock-font-size | uint[0,60] | 0 |
nvdsosd | x-clock-offset | uint | 0 |
nvdsosd | y-clock-offset | uint | 0 |
nvdsosd | clock-color | uint | 0 |
nvdsosd | process-mode | GstNvDsOsdMode | 1 |
nvdsosd | gpu-id | uint | 0 | {_GPU}
nvmultistreamtiler | rows | uint[1,{G_MAXUINT}] | 1 |
nvmultistreamtiler | columns | uint[1,{G_MAXUINT}] | 1 |
nvmultistreamtiler | width | uint[16,{G_MAXUINT}] | 1920 |
nvmultistreamtiler | height | uint[16,{G_MAXUINT}] | 1080 |
nvmultistreamtiler | show-source | int[-1,{G_MAXINT}] | -1 |
nvmultistreamtiler | gpu-id | uint | 0 | {_GPU}
nvmultistreamtiler | nvbuf-memory-type | GstNvBufMemoryType | 0 | {_MEM}
nvmultistreamtiler | compute-hw | GstNvComputeHWType | 0 | {_HW}
nvmultistreamtiler | interpolation-method | GstNvInterpolationMethod | 6 | {_INTERP}
nvmultistreamtiler | buffer-pool-size | uint[4,10] | 5 | output buffers are allocated per frame
nvvideoconvert | gpu-id | uint | 0 | {_GPU}
nvvideoconvert | nvbuf-memory-type | GstNvBufMemoryType | 0 | {_MEM}
nvvideoconvert | src-crop | string | "" |
nvvideoconvert | dest-crop | string | "" |
nvvideoconvert | interpolation-method | GstNvInterpolationMethod | 6 | {_INTERP}
nvvideoconvert | compute-hw | GstNvComputeHWType | 0 | {_HW}
nvvideoconvert | flip-method | GstNvDsVideoFlipMethod | 0 |
nvvideoconvert | output-buffers | uint[1,{G_MAXUINT}] | 4 | output buffers are allocated per frame
nvvideoconvert | allow-odd-crop | bool | true | crops are not restricted
nvvideoconvert | contiguous-buffers | bool | false | batches are one array already
nvvideoconvert | disable-passthrough | bool | false | identical caps pass through
nvvideoconvert | silent | bool | false | no per-frame output is printed
nvv4l2decoder | gpu-id | uint | 0 | {_GPU}
nvv4l2decoder | cudadec-memtype | GstNvV4l2DecCudaDecMemType | 0 | {_MEM}
nvv4l2decoder | num-extra-surfaces | uint[0,24] | 1 | decoded frames are not pooled
nvv4l2decoder | drop-frame-interval | uint[0,30] | 0 |
nvv4l2decoder | skip-frames | GstNvV4l2DecSkipFrames | 0 |
nvv4l2decoder | low-latency-mode | bool | false | the software decoders have no latency mode
nvv4l2decoder | mjpeg | bool | false | {_JETSON}: JPEG input is detected from caps
nvv4l2decoder | enable-max-performance | bool | false | {_JETSON}
nvv4l2decoder | bufapi-version | bool | false | {_JETSON} (5.x)
nveglglessink | gpu-id | uint | 0 | {_GPU}
nveglglessink | window-x | uint | 0 |
nveglglessink | window-y | uint | 0 |
nveglglessink | window-width | uint | 0 |
nveglglessink | window-height | uint | 0 |
nveglglessink | create-window | bool | true | the window is created when a display exists
nveglglessink | force-aspect-ratio | bool | false | the window scales as the video sink does
nveglglessink | rows | uint | 1 | one picture per window
nveglglessink | columns | uint | 1 | one picture per window
nvurisrcbin | uri | string | "" |
nvurisrcbin | type | GstNvSourceType | 0 | the source kind is chosen from the URI
nvurisrcbin | source-id | int | -1 |
nvurisrcbin | file-loop | bool | false |
nvurisrcbin | cudadec-memtype | GstNvV4l2DecCudaDecMemType | 0 | {_MEM}
nvurisrcbin | gpu-id | uint | 0 | {_GPU}
nvurisrcbin | num-extra-surfaces | uint | 1 | decoded frames are not pooled
nvurisrcbin | drop-frame-interval | uint[0,30] | 0 |
nvurisrcbin | dec-skip-frames | GstNvV4l2DecSkipFrames | 0 |
nvurisrcbin | low-latency-mode | bool | false | the software decoders have no latency mode
nvurisrcbin | disable-passthrough | bool | true | frames are always converted to the batch format
nvurisrcbin | disable-audio | bool | true | audio is not exposed
nvurisrcbin | latency | uint | 100 |
nvurisrcbin | drop-on-latency | bool | true |
nvurisrcbin | udp-buffer-size | uint | 524288 |
nvurisrcbin | select-rtp-protocol | GstNvRtspProtocol | 0 |
nvurisrcbin | rtsp-reconnect-interval | uint | 0 |
nvurisrcbin | rtsp-reconnect-attempts | int | -1 |
nvurisrcbin | extract-sei-type5-data | bool | false | SEI data is not extracted
nvurisrcbin | sei-uuid | string | "" | SEI data is not extracted
nvurisrcbin | smart-record | GstNvSmartRecordType | 0 |
nvurisrcbin | smart-rec-dir-path | string | "" |
nvurisrcbin | smart-rec-file-prefix | string | "Smart_Record" |
nvurisrcbin | smart-rec-cache | uint | 0 |
nvurisrcbin | smart-rec-video-cache | uint | 0 |
nvurisrcbin | smart-rec-container | GstNvSmartRecContainer | 0 |
nvurisrcbin | smart-rec-mode | GstNvSmartRecMode | 0 |
nvurisrcbin | smart-rec-default-duration | uint | 20 |
nvurisrcbin | smart-rec-status | bool (read-only) | false |
nvurisrcbin | ipc-socket-path | string | "" | nvunixfdsrc input is not implemented
nvurisrcbin | ipc-connection-attempts | int | -1 | nvunixfdsrc input is not implemented
nvurisrcbin | ipc-connection-interval | uint64 | 1000000 | nvunixfdsrc input is not implemented
nvurisrcbin | ipc-buffer-timestamp-copy | bool | false | nvunixfdsrc input is not implemented
nvdspreprocess | unique-id | uint | 15 |
nvdspreprocess | enable | bool | true |
nvdspreprocess | gpu-id | uint | 0 | {_GPU}
nvdspreprocess | process-on-frame | bool | true | the config file's process-on-frame is used
nvdspreprocess | operate-on-gie-id | int | -1 | the config file's operate-on-gie-id is used
nvdspreprocess | target-unique-ids | string | "" | the config file's target-unique-ids is used
nvdspreprocess | config-file | string | "" |
nvdspostprocess | gpu-id | uint | 0 | {_GPU}
nvdspostprocess | postprocesslib-name | string | "" | DeepStream's default library is built in; custom C libraries cannot be loaded
nvdspostprocess | postprocesslib-config-file | string | "" |
nvdsanalytics | unique-id | uint | 17 |
nvdsanalytics | enable | bool | true |
nvdsanalytics | config-file | string | "" |
nvdsanalytics | gpu-id | uint | 0 | {_GPU}
nvmsgconv | config | string | "" |
nvmsgconv | msg2p-lib | string | "" |
nvmsgconv | payload-type | GstNvMsgConvPayloadType | 0 |
nvmsgconv | comp-id | uint | 0 |
nvmsgconv | debug-payload-dir | string | "" |
nvmsgconv | multiple-payloads | bool | false |
nvmsgconv | msg2p-newapi | bool | false |
nvmsgconv | frame-interval | uint[1,{G_MAXUINT}] | 30 |
nvmsgbroker | proto-lib | string | "" |
nvmsgbroker | conn-str | string | "" |
nvmsgbroker | config | string | "" |
nvmsgbroker | topic | string | "" |
nvmsgbroker | comp-id | uint | 0 |
nvmsgbroker | new-api | bool | false |
nvmsgbroker | sleep-time | uint | 0 | messages are sent as they arrive
nvof | gpu-id | uint | 0 | {_GPU}
nvof | dump-of-meta | bool | ? |
nvof | preset-level | uint | ? |
nvof | grid-size | uint | ? |
nvof | pool-size | uint | ? | flow vectors are allocated per frame
nvofvisual | gpu-id | uint | 0 | {_GPU}
nvsegvisual | batch-size | uint | ? |
nvsegvisual | width | uint | ? |
nvsegvisual | height | uint | ? |
nvsegvisual | gpu-id | uint | 0 | {_GPU}
nvv4l2h264enc | bitrate | uint | 4000000 |
nvv4l2h264enc | control-rate | GstV4l2VideoEncRateControlType | 1 |
nvv4l2h264enc | iframeinterval | uint | 30 |
nvv4l2h264enc | idrinterval | uint | 256 | every key frame is an IDR frame
nvv4l2h264enc | profile | GstV4l2VideoEncProfileType | 0 |
nvv4l2h264enc | preset-level | GstV4L2VideoEncHwPreset | 1 |
nvv4l2h264enc | insert-sps-pps | bool | false |
nvv4l2h264enc | insert-vui | bool | false |
nvv4l2h264enc | insert-aud | bool | false |
nvv4l2h264enc | bufapi-version | bool | false | {_JETSON} (5.x)
nvv4l2h264enc | maxperf-enable | bool | false | {_JETSON}
nvv4l2h264enc | peak-bitrate | uint | 0 | {_JETSON}
nvv4l2h264enc | vbv-size | uint | 4000000 | {_JETSON}
nvv4l2h264enc | num-B-Frames | uint[0,2] | 0 |
nvv4l2h264enc | gpu-id | uint | 0 | {_GPU}
nvv4l2h265enc | bitrate | uint | 4000000 |
nvv4l2h265enc | control-rate | GstV4l2VideoEncRateControlType | 1 |
nvv4l2h265enc | iframeinterval | uint | 30 |
nvv4l2h265enc | idrinterval | uint | 256 | every key frame is an IDR frame
nvv4l2h265enc | profile | GstV4l2H265VideoEncProfileType | 0 |
nvv4l2h265enc | preset-level | GstV4L2VideoEncHwPreset | 1 |
nvv4l2h265enc | insert-sps-pps | bool | false |
nvv4l2h265enc | insert-vui | bool | false |
nvv4l2h265enc | insert-aud | bool | false |
nvv4l2h265enc | bufapi-version | bool | false | {_JETSON} (5.x)
nvv4l2h265enc | maxperf-enable | bool | false | {_JETSON}
nvv4l2h265enc | peak-bitrate | uint | 0 | {_JETSON}
nvv4l2h265enc | vbv-size | uint | 4000000 | {_JETSON}
nvv4l2h265enc | num-B-Frames | uint[0,2] | 0 |
nvv4l2h265enc | gpu-id | uint | 0 | {_GPU}
nvjpegenc | quality | int[0,100] | ? |
nvsegvisual | original-background | bool | ? | the class colours are drawn over the frame
"""

#: (element, property) → why Estuary's default differs from DeepStream's
DEVIATIONS: dict[tuple[str, str], str] = {
    ("nvstreammux", "batch-size"): "DeepStream requires the app to set it (0 fails); 1 lets a "
                                   "one-source pipeline run without it",
    ("nvstreammux", "batched-push-timeout"): "-1 (wait forever) stalls a live source that stops; "
                                             "40 ms keeps batches flowing",
    ("nvinferserver", "unique-id"): "0 means 'take it from the config'; the element uses 15 as nvinfer does "
                                    "when the config has none",
    ("nvinferserver", "process-mode"): "same value space as nvinfer here (1 primary, 2 secondary); "
                                       "0 'from config' is accepted and means the config's value",
    ("nvinferserver", "batch-size"): "0 means 'take it from the config'; 1 is the config default",
    ("nvdsosd", "display-mask"): "DeepStream's pspec default is TRUE (gst-inspect shows the "
                                 "instance's FALSE); masks are drawn when the meta has them",
    ("nvdsosd", "clock-font"): "a named default font, so display-clock=1 draws without more settings",
    ("nvdsosd", "clock-font-size"): "a visible default size for display-clock=1",
    ("nvdsosd", "x-clock-offset"): "the clock is drawn inside the frame by default",
    ("nvdsosd", "y-clock-offset"): "the clock is drawn inside the frame by default",
    ("nvdsosd", "clock-color"): "opaque red (0 would be transparent black)",
    ("nvdsosd", "process-mode"): "0 (CPU) is what draws on a CPU surface; GPU surfaces are drawn "
                                 "on the GPU whatever the mode",
    ("nvmultistreamtiler", "width"): "1280x720 output, as Estuary's samples and docs use",
    ("nvmultistreamtiler", "height"): "1280x720 output, as Estuary's samples and docs use",
    ("nvmsgconv", "frame-interval"): "every frame's events are converted (DeepStream's 30 applies to "
                                     "its new-API frame payloads only)",
    ("nvurisrcbin", "source-id"): "0: the first source when an app sets none",
    ("nvurisrcbin", "drop-on-latency"): "late RTSP packets are kept unless asked (rtspsrc's default)",
    ("nvurisrcbin", "num-extra-surfaces"): "decoded frames are not pooled, so no extra surfaces (0)",
    ("nvv4l2decoder", "num-extra-surfaces"): "decoded frames are not pooled, so no extra surfaces (0)",
    ("nvv4l2decoder", "bufapi-version"): "5.x Jetson apps set it to 1; True is the value they expect",
    ("nvdsanalytics", "unique-id"): "unconfirmed in 5.1; kept at 0 as Estuary's meta has always had",
}

#: (element, property) → why the GType differs from DeepStream's
TYPE_DEVIATIONS: dict[tuple[str, str], str] = {
    ("nvinferserver", "process-mode"): "nvinferserver is a subclass of nvinfer here and inherits its "
                                       "GstNvInferProcessModeType (1 primary, 2 secondary, the values "
                                       "apps set); DeepStream's plain uint also allows 0 = from config",
}


@dataclass(frozen=True)
class DsProp:
    """One row of :data:`TABLE`."""

    element: str
    name: str
    type: str            # bool, int, uint, int64, uint64, string, pointer, or an ENUMS key
    minimum: int | None
    maximum: int | None
    default: object      # None: unconfirmed (not checked)
    note: str
    readonly: bool = False  # the type column ends with "(read-only)"

    @property
    def is_enum(self) -> bool:
        return self.type in ENUMS


_RANGES = {"int": (-2**31, G_MAXINT), "uint": (0, G_MAXUINT), "int64": (-2**63, 2**63 - 1),
           "uint64": (0, G_MAXUINT64)}


def type_range(typ: str) -> tuple[int, int]:
    """The values a GType can hold (an enum: its lowest and highest value)."""
    if typ in ENUMS:
        values = [v for v, _, _ in ENUMS[typ]]
        return min(values), max(values)
    return _RANGES.get(typ, (-2**63, 2**64 - 1))


def _parse(text: str) -> dict[str, dict[str, DsProp]]:
    out: dict[str, dict[str, DsProp]] = {}
    for line in text.strip().splitlines():
        element, name, typ, default, note = (c.strip() for c in line.split("|", 4))
        readonly = typ.endswith("(read-only)")
        typ = typ.removesuffix("(read-only)").strip()
        lo = hi = None
        if "[" in typ:
            typ, rng = typ.rstrip("]").split("[")
            lo, hi = (int(v) for v in rng.split(","))
        elif typ in _RANGES:
            lo, hi = _RANGES[typ]
        elif typ in ENUMS:
            values = [v for v, _, _ in ENUMS[typ]]
            lo, hi = min(values), max(values)
        if default == "?":
            value = None
        elif typ == "bool":
            value = {"true": True, "false": False}[default]
        elif typ == "string":
            value = default.strip('"')
        elif typ == "pointer":
            value = None
        else:
            value = int(default)
        out.setdefault(element, {})[name] = DsProp(element, name, typ, lo, hi, value, note, readonly)
    return out


_TABLE = _parse(TABLE)


def properties_for(element: str) -> dict[str, DsProp]:
    """DeepStream 7.1's properties of ``element`` (an empty dict for names not in the table)."""
    return dict(_TABLE.get(element, {}))


def elements() -> list[str]:
    """The DeepStream element names the table covers."""
    return list(_TABLE)


def markdown() -> str:
    """docs/ds-properties.md: the table as documentation (``python -m estuary.gst.dsprops``).

    Whether a property has an effect is read from the registered element: one the element
    declares itself is implemented, whatever the table's note says."""
    import pyds  # noqa: F401 - registers the elements
    from estuary.gst import Gst
    lines = ["# DeepStream 7.1 element properties on Estuary", "",
             "Generated from `src/estuary/gst/dsprops.py` by `python -m estuary.gst.dsprops`; "
             "`tests/test_ds_properties.py` checks every row on the registered elements and that this "
             "file is current.", "",
             "Every property exists with DeepStream's name, GType and default. **Effect** says what it "
             "does on Estuary: *implemented*, or why it is accepted and validated without effect here. "
             "A different default is listed with its reason.", ""]
    for element in elements():
        lines += [f"## {element}", "", "| property | type | default | effect |", "|---|---|---|---|"]
        made = Gst.ElementFactory.make(element, None)
        for row in properties_for(element).values():
            default = "—" if row.default is None else repr(row.default) if row.type == "string" else str(row.default)
            if (element, row.name) in DEVIATIONS:
                default += f" (Estuary differs: {DEVIATIONS[(element, row.name)]})"
            typ = row.type + (f" [{row.minimum}, {row.maximum}]" if row.minimum is not None and
                              row.type not in ENUMS and (row.minimum, row.maximum) != _RANGES.get(row.type) else "")
            typ += " (read-only)" if row.readonly else ""
            blurb = made.find_property(row.name).blurb or ""
            inert = "no effect here" in blurb or blurb.startswith("Accepted")
            effect = f"no effect: {row.note or blurb}" if inert else "implemented"
            lines.append(f"| {row.name} | {typ} | {default} | {effect} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys
    sys.stdout.write(markdown())
