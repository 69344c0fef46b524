"""Ports of DeepStream's Python sample apps, written the way a DeepStream app is written
(``Gst.ElementFactory.make``, pad probes, ``pyds`` with ``hash(gst_buffer)``) and using the
DeepStream element names — so they double as compatibility tests.

Differences from the originals are marked ``# Estuary:`` in the code: configs come from the
bundled-model folder (``~/.cache/estuary/samples``) instead of the current folder, and the
4-class detector is YOLOv3-tiny with COCO classes merged into Car/Bicycle/Person/Roadsign."""

import os

# DeepStream 7.x apps import NVIDIA's cuda-python in common/platform_info.py; make Estuary's
# stand-in the fallback (a real cuda-python still wins: see estuary_cudacompat). The .pth file
# that scripts/setup.sh installs does the same for apps run outside `estuary run`.
import estuary_cudacompat

estuary_cudacompat.install()

SAMPLES = {
    "test1": "deepstream_test_1",
    "test2": "deepstream_test_2",
    "test3": "deepstream_test_3",
    "test4": "deepstream_test_4",
    "nvdsanalytics": "deepstream_nvdsanalytics",
    "imagedata-multistream": "deepstream_imagedata_multistream",
    "test1-rtsp-out": "deepstream_test1_rtsp_out",
    "runtime-add-delete": "deepstream_rt_src_add_del",
    "opticalflow": "deepstream_opticalflow",
    "segmentation": "deepstream_segmentation",
    "segmask": "deepstream_segmask",
    "test1-usbcam": "deepstream_test_1_usb",
    "demux-multi-in-multi-out": "deepstream_demux_multi_in_multi_out",
    "preprocess-test": "deepstream_preprocess_test",
    "ssd-parser": "deepstream_ssd_parser",
    "rtsp-in-rtsp-out": "deepstream_rtsp_in_rtsp_out",
}


def config_dir() -> str:
    """Folder of the sample configs (written by ``python -m estuary.data fetch``)."""
    from estuary import data
    return os.environ.get("ESTUARY_SAMPLES_CONFIG") or os.path.join(data.data_dir(), "samples")
