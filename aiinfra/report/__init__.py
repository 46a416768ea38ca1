"""`aiinfra report`: a plan as one self-contained HTML page (inline CSS and SVG, nothing fetched)."""
