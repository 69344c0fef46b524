"""Engine-free reading of encoded video: what an H.264 / H.265 access unit holds (``nal``)."""
