"""Keep Ultralytics offline: no downloads, no auto-installs, settings in a writable folder."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def configure_ultralytics_offline() -> None:
    """Set Ultralytics' offline variables unless the caller already chose them; call before importing it."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    if "YOLO_CONFIG_DIR" not in os.environ:
        config_dir = Path(tempfile.gettempdir()) / f"perception-ultralytics-{os.getuid()}"
        config_dir.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
