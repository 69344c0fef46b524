"""Ready-made applications: the demo and the ports of DeepStream's Python samples."""
