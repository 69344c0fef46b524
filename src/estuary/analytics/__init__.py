"""Scene analytics, engine-free: ROI filtering, overcrowding, line crossing and direction
detection over tracked objects, configured by nvdsanalytics config files."""

from estuary.analytics.config import AnalyticsConfig, load_analytics_config
from estuary.analytics.engine import AnalyticsEngine, FrameResult

__all__ = ["AnalyticsConfig", "load_analytics_config", "AnalyticsEngine", "FrameResult"]
