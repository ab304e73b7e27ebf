"""host-anomaly-exporter on-host agent (never imports TensorFlow)."""
